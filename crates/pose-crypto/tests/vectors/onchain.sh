#!/usr/bin/env bash
# Regenerates onchain.txt: the digests of docs/protocol.md sections 2 and 3 for fixed inputs,
# computed with foundry's `cast` (abi-encode + keccak), independently of the Rust code.
# Usage: tests/vectors/onchain.sh > tests/vectors/onchain.txt
set -euo pipefail
root="$(cd "$(dirname "$0")/../../../.." && pwd)"
CAST="${CAST:-$root/node_modules/.bin/cast}"

rep() { printf "0x"; for _ in $(seq "$2"); do printf "%s" "$1"; done; }
b32() { rep "$1" 32; }
addr() { rep "$1" 20; }
tag() { "$CAST" keccak "$1"; }
digest() { "$CAST" keccak "$("$CAST" abi-encode "$@")"; }

chain=31337
mgr=$(addr aa)
cid=7

echo "attestation = $(digest 'f(bytes32,uint256,address,bytes32,address,bytes32)' \
  "$(tag pose.attestation.v1)" $chain "$mgr" "$(b32 01)" "$(addr bb)" "$(b32 02)")"
echo "accept = $(digest 'f(bytes32,uint256,address,uint64,bytes32,bytes32,bytes32,bytes32)' \
  "$(tag pose.accept.v1)" $chain "$mgr" $cid "$(b32 03)" "$(b32 04)" "$(b32 05)" "$(b32 06)")"
out_hash=$("$CAST" keccak "output")
echo "respond = $(digest 'f(bytes32,uint256,address,uint64,uint64,uint64,bytes32,uint64,bytes32,bytes32)' \
  "$(tag pose.respond.v1)" $chain "$mgr" $cid 9 2 "$out_hash" 11 "$(b32 07)" "$(b32 08)")"
echo "withdraw = $(digest 'f(bytes32,uint256,address,uint64,uint64,address,uint256,uint64,bytes32)' \
  "$(tag pose.withdraw.v1)" $chain "$mgr" $cid 2 "$(addr cc)" 340282366920938463463374607431768211455 5 "$(b32 09)")"
echo "challenge_member = $(digest 'f(bytes32,uint256,address,uint64,uint64,address,bytes32)' \
  "$(tag pose.challenge-member.v1)" $chain "$mgr" $cid 3 "$(addr dd)" "$(b32 0a)")"
echo "respond_member = $(digest 'f(bytes32,uint256,address,uint64,uint64,address,uint64,bytes32,bytes32)' \
  "$(tag pose.respond-member.v2)" $chain "$mgr" $cid 3 "$(addr dd)" 12 "$(b32 0b)" "$(b32 0a)")"
payouts=$(digest 'f(address[],uint256[])' "[$(addr 01),$(addr 02)]" "[1000,2]")
echo "payouts = $payouts"
echo "payouts_empty = $(digest 'f(address[],uint256[])' "[]" "[]")"
echo "terminate = $(digest 'f(bytes32,uint256,address,uint64,uint64,bytes32,bytes32)' \
  "$(tag pose.terminate.v1)" $chain "$mgr" $cid 4 "$payouts" "$(b32 0c)")"
initial=$(digest 'f(bytes32,uint256,address,uint64)' "$(tag pose.txhash.v1)" $chain "$mgr" $cid)
echo "txhash_initial = $initial"
pool=$(digest 'f(address[])' "[$(addr 01),$(addr 02),$(addr 03)]")
echo "outcome_pool = $pool"
echo "outcome_replacement = $(digest 'f(address)' "$(addr 04)")"
echo "outcome_replacement_none = $(digest 'f(address)' 0x0000000000000000000000000000000000000000)"
echo "outcome_challenge = $("$CAST" abi-encode 'f(uint256)' 9)"
echo "txhash_extend = $(digest 'f(bytes32,bytes32,address,uint256,uint256,uint256,bytes32)' \
  "$initial" "$("$CAST" keccak 0xdeadbeef)" "$(addr ee)" 1000000000000000000 1234 1700000000 "$pool")"
