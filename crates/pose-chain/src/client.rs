//! [`ManagerClient`]: one account talking to one deployed `PoseManager`.

use std::collections::BTreeMap;
use std::time::Duration;

use alloy::network::{EthereumWallet, TransactionBuilder};
use alloy::primitives::{Address, Bytes, TxHash, B256, U256};
use alloy::providers::ext::AnvilApi;
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::{BlockNumberOrTag, Filter, TransactionReceipt, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::{SolCall, SolConstructor, SolEvent};
use pose_crypto::onchain::Domain;
use pose_types::{Amount, ContractId, EncPublicKey, Hash32, Seq, SignatureBytes};

use crate::bindings::PoseManager;
use crate::convert::{from_address, sig_bytes, to_address, to_b256};
use crate::error::ChainError;
use crate::events::LOG_RANGE_BLOCKS_MAX;

/// How to reach a chain and how careful to be with it.
#[derive(Clone, Debug)]
pub struct ChainConfig {
    /// JSON-RPC endpoint, an `http://` URL.
    pub rpc_url: String,
    /// Blocks a transaction or an event needs before it counts (1: included in the head).
    pub confirmations: u64,
    /// How often to poll the node while waiting.
    pub poll_interval: Duration,
    /// How long to wait for a receipt or its confirmations before giving up.
    pub timeout: Duration,
}

impl ChainConfig {
    /// A configuration for `rpc_url` with 1 confirmation, 50 ms polling and a 120 s timeout.
    pub fn new(rpc_url: impl Into<String>) -> Self {
        Self {
            rpc_url: rpc_url.into(),
            confirmations: 1,
            poll_interval: Duration::from_millis(50),
            timeout: Duration::from_secs(120),
        }
    }

    /// The same configuration with `confirmations` (at least 1).
    pub fn with_confirmations(mut self, confirmations: u64) -> Self {
        self.confirmations = confirmations.max(1);
        self
    }
}

/// Polls on which the node must not know a sent transaction before it counts as dropped
/// (a load-balanced RPC endpoint may briefly not see a transaction another backend accepted).
const UNKNOWN_POLLS_BEFORE_DROPPED: u32 = 3;

/// One account (a private key) talking to one deployed `PoseManager` on any EVM chain.
///
/// Submissions from one account must not overlap: the nonce is read from the node for each
/// one. Use one client per account and await each submission (clients are cheap to clone and
/// to create with [`ManagerClient::with_signer`]).
///
/// Every submission estimates first, so a transaction the manager would refuse is never sent
/// and its custom error comes back as [`ChainError::Reverted`]; a sent transaction is awaited
/// until it has the configured confirmations.
#[derive(Clone, Debug)]
pub struct ManagerClient {
    provider: DynProvider,
    manager: Address,
    sender: Address,
    chain_id: u64,
    config: ChainConfig,
}

fn provider_for(config: &ChainConfig, signer: PrivateKeySigner) -> Result<DynProvider, ChainError> {
    let url = config
        .rpc_url
        .parse()
        .map_err(|e| ChainError::Config(format!("RPC URL {:?}: {e}", config.rpc_url)))?;
    // The nonce is read from the node for every transaction: a cached nonce would be consumed by
    // a transaction whose estimation the manager refused, leaving a gap that stalls the next one.
    Ok(ProviderBuilder::new()
        .disable_recommended_fillers()
        .with_gas_estimation()
        .with_simple_nonce_management()
        .fetch_chain_id()
        .wallet(EthereumWallet::from(signer))
        .connect_http(url)
        .erased())
}

impl ManagerClient {
    /// Connects `signer` to the manager deployed at `manager`. Fails if no code is there.
    pub async fn connect(
        config: ChainConfig,
        signer: PrivateKeySigner,
        manager: Address,
    ) -> Result<Self, ChainError> {
        let sender = signer.address();
        let provider = provider_for(&config, signer)?;
        let code = provider.get_code_at(manager).await?;
        if code.is_empty() {
            return Err(ChainError::Config(format!(
                "no contract at {manager}; deploy the manager first or fix the address"
            )));
        }
        let chain_id = provider.get_chain_id().await?;
        Ok(Self {
            provider,
            manager,
            sender,
            chain_id,
            config,
        })
    }

    /// Deploys a new manager from `signer` (which becomes its owner) with the vendor key and
    /// the allowed measurements, and connects to it.
    pub async fn deploy(
        config: ChainConfig,
        signer: PrivateKeySigner,
        vendor: Address,
        measurements: Vec<B256>,
    ) -> Result<Self, ChainError> {
        Ok(
            Self::deploy_with_receipt(config, signer, vendor, measurements)
                .await?
                .0,
        )
    }

    /// What deploying a manager from `signer` would need, without sending anything: the
    /// chain id, the deployer's balance, the gas estimate and limit, and the fee per gas the
    /// transaction would offer. A deployment the chain would refuse (e.g. a zero vendor)
    /// fails here with the manager's error.
    pub async fn plan_deploy(
        config: &ChainConfig,
        signer: PrivateKeySigner,
        vendor: Address,
        measurements: Vec<B256>,
    ) -> Result<DeployPlan, ChainError> {
        let deployer = signer.address();
        let provider = provider_for(config, signer)?;
        let chain_id = provider.get_chain_id().await?;
        let balance = provider.get_balance(deployer).await?;
        let tx = TransactionRequest::default()
            .with_from(deployer)
            .with_deploy_code(Bytes::from(deploy_code(vendor, measurements)));
        let gas_estimate = provider
            .estimate_gas(tx)
            .await
            .map_err(ChainError::from_transport)?;
        let max_fee_per_gas = match provider.estimate_eip1559_fees().await {
            Ok(fees) => fees.max_fee_per_gas,
            // A chain without EIP-1559 fees: the legacy gas price.
            Err(_) => provider.get_gas_price().await?,
        };
        Ok(DeployPlan {
            chain_id,
            deployer,
            balance,
            gas_estimate,
            gas_limit: gas_limit_for(gas_estimate),
            max_fee_per_gas,
        })
    }

    /// [`ManagerClient::deploy`], also returning the deployment's receipt (gas used, block).
    pub async fn deploy_with_receipt(
        config: ChainConfig,
        signer: PrivateKeySigner,
        vendor: Address,
        measurements: Vec<B256>,
    ) -> Result<(Self, TransactionReceipt), ChainError> {
        let sender = signer.address();
        let provider = provider_for(&config, signer)?;
        let code = deploy_code(vendor, measurements);
        let chain_id = provider.get_chain_id().await?;
        let mut client = Self {
            provider,
            manager: Address::ZERO,
            sender,
            chain_id,
            config,
        };
        let tx = TransactionRequest::default().with_deploy_code(Bytes::from(code));
        let receipt = client.submit(tx).await?;
        client.manager = receipt.contract_address.ok_or_else(|| {
            ChainError::Config("deployment receipt carries no contract address".into())
        })?;
        Ok((client, receipt))
    }

    /// The same manager and configuration, submitting from another account.
    pub fn with_signer(&self, signer: PrivateKeySigner) -> Result<Self, ChainError> {
        let sender = signer.address();
        Ok(Self {
            provider: provider_for(&self.config, signer)?,
            manager: self.manager,
            sender,
            chain_id: self.chain_id,
            config: self.config.clone(),
        })
    }

    /// The manager's address.
    pub fn manager(&self) -> Address {
        self.manager
    }

    /// The chain id the node reported when this client connected.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The chain and manager every enclave digest for this manager is bound to
    /// (`pose_crypto::onchain`).
    pub fn domain(&self) -> Domain {
        Domain {
            chain_id: self.chain_id,
            manager: from_address(self.manager),
        }
    }

    /// The account that signs and pays for submissions.
    pub fn sender(&self) -> Address {
        self.sender
    }

    /// The configuration in use.
    pub fn config(&self) -> &ChainConfig {
        &self.config
    }

    /// The underlying provider (for reads this type does not wrap).
    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    /// A typed instance of the manager for calls through the generated methods.
    pub fn instance(&self) -> PoseManager::PoseManagerInstance<DynProvider> {
        PoseManager::new(self.manager, self.provider.clone())
    }

    /// Submits `call` to the manager with `value` wei and waits for its confirmations.
    pub async fn send<C: SolCall>(
        &self,
        call: &C,
        value: U256,
    ) -> Result<TransactionReceipt, ChainError> {
        let tx = TransactionRequest::default()
            .with_to(self.manager)
            .with_input(call.abi_encode())
            .with_value(value);
        self.submit(tx).await
    }

    /// Calls a view (or simulates a transaction) of the manager at the latest block.
    pub async fn read<C: SolCall>(&self, call: &C) -> Result<C::Return, ChainError> {
        let tx = TransactionRequest::default()
            .with_from(self.sender)
            .with_to(self.manager)
            .with_input(call.abi_encode());
        let out = self
            .provider
            .call(tx)
            .await
            .map_err(ChainError::from_transport)?;
        C::abi_decode_returns(&out)
            .map_err(|e| ChainError::Config(format!("manager returned undecodable data: {e}")))
    }

    /// Submits a prepared transaction: estimates (a refusal comes back as the manager's
    /// decoded error), sends, and waits for the receipt and the configured confirmations.
    pub async fn submit(&self, tx: TransactionRequest) -> Result<TransactionReceipt, ChainError> {
        let mut tx = tx.with_from(self.sender);
        if tx.gas.is_none() {
            let estimate = self
                .provider
                .estimate_gas(tx.clone())
                .await
                .map_err(ChainError::from_transport)?;
            tx.set_gas_limit(gas_limit_for(estimate));
        }
        let pending = self
            .provider
            .send_transaction(tx)
            .await
            .map_err(ChainError::from_transport)?;
        let hash = *pending.tx_hash();
        let receipt = self.wait_receipt(hash).await?;
        if !receipt.status() {
            return Err(ChainError::TxFailed(hash));
        }
        self.wait_confirmations(&receipt).await
    }

    /// Waits for the receipt of `hash`. A transaction the node no longer knows at all (neither
    /// pending nor mined) on [`UNKNOWN_POLLS_BEFORE_DROPPED`] polls in a row was reorganised
    /// away or evicted from the pool, and is reported as [`ChainError::Dropped`].
    async fn wait_receipt(&self, hash: TxHash) -> Result<TransactionReceipt, ChainError> {
        let start = tokio::time::Instant::now();
        let mut unknown_polls = 0u32;
        loop {
            if let Some(r) = self.provider.get_transaction_receipt(hash).await? {
                return Ok(r);
            }
            if self.provider.get_transaction_by_hash(hash).await?.is_none() {
                unknown_polls += 1;
                if unknown_polls >= UNKNOWN_POLLS_BEFORE_DROPPED {
                    return Err(ChainError::Dropped(hash));
                }
            } else {
                unknown_polls = 0;
            }
            if start.elapsed() > self.config.timeout {
                return Err(ChainError::Timeout {
                    what: "a transaction receipt",
                    secs: self.config.timeout.as_secs(),
                });
            }
            tokio::time::sleep(self.config.poll_interval).await;
        }
    }

    /// Waits until the block holding `receipt` has the configured confirmations and the
    /// transaction is still in it; returns the receipt as seen then.
    pub async fn wait_confirmations(
        &self,
        receipt: &TransactionReceipt,
    ) -> Result<TransactionReceipt, ChainError> {
        let hash = receipt.transaction_hash;
        let mut block = receipt.block_number.unwrap_or_default();
        let start = tokio::time::Instant::now();
        loop {
            let head = self.provider.get_block_number().await?;
            if head + 1 >= block + self.config.confirmations {
                match self.provider.get_transaction_receipt(hash).await? {
                    Some(r) if r.block_number == Some(block) => return Ok(r),
                    // Re-included in another block after a reorganisation: count from there.
                    Some(r) if r.status() => block = r.block_number.unwrap_or(block),
                    Some(_) => return Err(ChainError::TxFailed(hash)),
                    None => return Err(ChainError::Dropped(hash)),
                }
            }
            if start.elapsed() > self.config.timeout {
                return Err(ChainError::Timeout {
                    what: "confirmations",
                    secs: self.config.timeout.as_secs(),
                });
            }
            tokio::time::sleep(self.config.poll_interval).await;
        }
    }

    /// The number of the chain's latest block.
    pub async fn block_number(&self) -> Result<u64, ChainError> {
        Ok(self.provider.get_block_number().await?)
    }

    /// Chain time: the timestamp (seconds since the Unix epoch) of the latest block. The
    /// manager's deadlines compare against block timestamps, so this is the clock that matters.
    pub async fn chain_time(&self) -> Result<u64, ChainError> {
        let block = self
            .provider
            .get_block_by_number(BlockNumberOrTag::Latest)
            .await?
            .ok_or_else(|| ChainError::Config("the node has no latest block".into()))?;
        Ok(block.header.timestamp)
    }

    /// The balance of `account`, in wei.
    pub async fn balance_of(&self, account: Address) -> Result<U256, ChainError> {
        Ok(self.provider.get_balance(account).await?)
    }

    // ---------------------------------------------------------------- typed shorthands

    /// Registers an enclave with its vendor attestation; the sender becomes its operator.
    pub async fn register_enclave(
        &self,
        measurement: B256,
        enclave: Address,
        enc_pub_key: B256,
        vendor_sig: Bytes,
    ) -> Result<TransactionReceipt, ChainError> {
        let call = PoseManager::registerEnclaveCall {
            measurement,
            enclave,
            encPubKey: enc_pub_key,
            vendorSig: vendor_sig,
        };
        self.send(&call, U256::ZERO).await
    }

    /// Creates a contract; returns its id and its drawn pool (executor first).
    pub async fn create_contract(
        &self,
        code_hash: B256,
        params: PoseManager::Params,
    ) -> Result<(ContractId, Vec<Address>, TransactionReceipt), ChainError> {
        let call = PoseManager::createContractCall {
            codeHash: code_hash,
            params,
        };
        let receipt = self.send(&call, U256::ZERO).await?;
        let created = find_event::<PoseManager::ContractCreated>(&receipt).ok_or_else(|| {
            ChainError::Config("createContract receipt has no ContractCreated event".into())
        })?;
        Ok((ContractId(created.cid), created.pool, receipt))
    }

    /// Deposits `amount` wei into contract `cid`.
    pub async fn deposit(
        &self,
        cid: ContractId,
        amount: U256,
    ) -> Result<TransactionReceipt, ChainError> {
        self.send(&PoseManager::depositCall { cid: cid.0 }, amount)
            .await
    }

    /// Forces `encrypted_input` on-chain for `cid`; returns the challenge id.
    pub async fn challenge(
        &self,
        cid: ContractId,
        encrypted_input: Bytes,
    ) -> Result<(u64, TransactionReceipt), ChainError> {
        let call = PoseManager::challengeCall {
            cid: cid.0,
            encryptedInput: encrypted_input,
        };
        let receipt = self.send(&call, U256::ZERO).await?;
        let opened = find_event::<PoseManager::ChallengeOpened>(&receipt).ok_or_else(|| {
            ChainError::Config("challenge receipt has no ChallengeOpened event".into())
        })?;
        Ok((opened.challengeId, receipt))
    }

    /// Posts the members' acceptances (in pool order) and starts execution.
    pub async fn complete_creation(
        &self,
        cid: ContractId,
        contract_enc_key: EncPublicKey,
        init_state_hash: Hash32,
        tx_hash: Hash32,
        sigs: &[SignatureBytes],
    ) -> Result<TransactionReceipt, ChainError> {
        let call = PoseManager::completeCreationCall {
            cid: cid.0,
            contractEncKey: B256::from(contract_enc_key.0),
            initStateHash: to_b256(init_state_hash),
            txHash: to_b256(tx_hash),
            sigs: sigs.iter().map(sig_bytes).collect(),
        };
        self.send(&call, U256::ZERO).await
    }

    /// Posts the executor's answer to user challenge `challenge_id`.
    #[allow(clippy::too_many_arguments)]
    pub async fn respond(
        &self,
        cid: ContractId,
        challenge_id: u64,
        encrypted_output: &[u8],
        seq: Seq,
        state_hash: Hash32,
        tx_hash: Hash32,
        sig: &SignatureBytes,
    ) -> Result<TransactionReceipt, ChainError> {
        let call = PoseManager::respondCall {
            cid: cid.0,
            challengeId: challenge_id,
            encryptedOutput: Bytes::copy_from_slice(encrypted_output),
            seq: seq.0,
            stateHash: to_b256(state_hash),
            txHash: to_b256(tx_hash),
            sig: sig_bytes(sig),
        };
        self.send(&call, U256::ZERO).await
    }

    /// Moves the executor role on after challenge `challenge_id`'s deadline.
    pub async fn timeout_challenge(
        &self,
        cid: ContractId,
        challenge_id: u64,
    ) -> Result<TransactionReceipt, ChainError> {
        let call = PoseManager::timeoutChallengeCall {
            cid: cid.0,
            challengeId: challenge_id,
        };
        self.send(&call, U256::ZERO).await
    }

    /// Posts the executor's challenge of a silent pool member.
    pub async fn challenge_member(
        &self,
        cid: ContractId,
        member: pose_types::Address,
        tx_hash: Hash32,
        sig: &SignatureBytes,
    ) -> Result<TransactionReceipt, ChainError> {
        let call = PoseManager::challengeMemberCall {
            cid: cid.0,
            member: to_address(member),
            txHash: to_b256(tx_hash),
            sig: sig_bytes(sig),
        };
        self.send(&call, U256::ZERO).await
    }

    /// Posts a challenged member's proof that it is alive, naming the state it holds
    /// (`held`: sequence number and state hash, signed with the rest).
    pub async fn respond_member(
        &self,
        cid: ContractId,
        member: pose_types::Address,
        held: (pose_types::Seq, Hash32),
        tx_hash: Hash32,
        sig: &SignatureBytes,
    ) -> Result<TransactionReceipt, ChainError> {
        let call = PoseManager::respondMemberCall {
            cid: cid.0,
            member: to_address(member),
            seq: held.0 .0,
            stateHash: to_b256(held.1),
            txHash: to_b256(tx_hash),
            sig: sig_bytes(sig),
        };
        self.send(&call, U256::ZERO).await
    }

    /// Removes a member past its deadline (or deregistered) and draws its replacement;
    /// returns the replacement (`None`: the pool shrank).
    pub async fn remove_member(
        &self,
        cid: ContractId,
        member: pose_types::Address,
    ) -> Result<(Option<pose_types::Address>, TransactionReceipt), ChainError> {
        let call = PoseManager::removeMemberCall {
            cid: cid.0,
            member: to_address(member),
        };
        let receipt = self.send(&call, U256::ZERO).await?;
        let removed = find_event::<PoseManager::MemberRemoved>(&receipt).ok_or_else(|| {
            ChainError::Config("removeMember receipt has no MemberRemoved event".into())
        })?;
        let replacement =
            (removed.replacement != Address::ZERO).then(|| from_address(removed.replacement));
        Ok((replacement, receipt))
    }

    /// Redeems a withdrawal the executor signed.
    pub async fn withdraw(
        &self,
        cid: ContractId,
        recipient: pose_types::Address,
        amount: Amount,
        nonce: u64,
        tx_hash: Hash32,
        sig: &SignatureBytes,
    ) -> Result<TransactionReceipt, ChainError> {
        let call = PoseManager::withdrawCall {
            cid: cid.0,
            recipient: to_address(recipient),
            amount: U256::from(amount.0),
            nonce,
            txHash: to_b256(tx_hash),
            sig: sig_bytes(sig),
        };
        self.send(&call, U256::ZERO).await
    }

    /// Closes the contract with the final payouts the executor signed.
    pub async fn terminate(
        &self,
        cid: ContractId,
        payouts: &[(pose_types::Address, Amount)],
        tx_hash: Hash32,
        sig: &SignatureBytes,
    ) -> Result<TransactionReceipt, ChainError> {
        let call = PoseManager::terminateCall {
            cid: cid.0,
            recipients: payouts.iter().map(|(a, _)| to_address(*a)).collect(),
            amounts: payouts.iter().map(|(_, v)| U256::from(v.0)).collect(),
            txHash: to_b256(tx_hash),
            sig: sig_bytes(sig),
        };
        self.send(&call, U256::ZERO).await
    }

    /// Pays the sender what terminations credited to it.
    pub async fn claim(&self) -> Result<TransactionReceipt, ChainError> {
        self.send(&PoseManager::claimCall {}, U256::ZERO).await
    }

    /// The contract's current incremental transaction hash.
    pub async fn tx_hash_of(&self, cid: ContractId) -> Result<B256, ChainError> {
        self.read(&PoseManager::txHashOfCall { cid: cid.0 }).await
    }

    /// Whether the manager ever produced `tx_hash` for `cid` (a real chain position).
    pub async fn is_known_tx_hash(
        &self,
        cid: ContractId,
        tx_hash: B256,
    ) -> Result<bool, ChainError> {
        self.read(&PoseManager::isKnownTxHashCall {
            cid: cid.0,
            txHash: tx_hash,
        })
        .await
    }

    /// The contract's on-chain record.
    pub async fn contract(&self, cid: ContractId) -> Result<PoseManager::Instance, ChainError> {
        self.read(&PoseManager::getContractCall { cid: cid.0 })
            .await
    }

    /// The contract's pool, executor rotation order.
    pub async fn pool(&self, cid: ContractId) -> Result<Vec<Address>, ChainError> {
        self.read(&PoseManager::getPoolCall { cid: cid.0 }).await
    }

    /// The manager's `ChallengeAnswered` events for challenge `challenge_id` of `cid` in
    /// blocks from `from_block` on (an answer closes the challenge, so there is at most one).
    /// Its `encryptedOutput` is the executor's encoded reply.
    pub async fn challenge_answers(
        &self,
        cid: ContractId,
        challenge_id: u64,
        from_block: u64,
    ) -> Result<Vec<PoseManager::ChallengeAnswered>, ChainError> {
        let filter = Filter::new()
            .address(self.manager())
            .event_signature(PoseManager::ChallengeAnswered::SIGNATURE_HASH)
            .topic1(B256::from(U256::from(cid.0)))
            .topic2(B256::from(U256::from(challenge_id)))
            .from_block(from_block);
        let logs = self.provider().get_logs(&filter).await?;
        Ok(logs
            .iter()
            .filter_map(|log| PoseManager::ChallengeAnswered::decode_log(&log.inner).ok())
            .map(|log| log.data)
            .collect())
    }

    /// Publishes `endpoint` (the base URL of the node hosting `enclave`); the sender must be
    /// the enclave's operator.
    pub async fn set_endpoint(
        &self,
        enclave: Address,
        endpoint: &str,
    ) -> Result<TransactionReceipt, ChainError> {
        let call = PoseManager::setEndpointCall {
            enclave,
            endpoint: endpoint.to_owned(),
        };
        self.send(&call, U256::ZERO).await
    }

    /// The endpoint the operator of `enclave` published last (empty if none).
    pub async fn endpoint_of(&self, enclave: Address) -> Result<String, ChainError> {
        self.read(&PoseManager::endpointOfCall(enclave)).await
    }

    /// Every endpoint published in blocks `from_block..=to_block`, by enclave (the latest
    /// wins), read from the `EndpointSet` events in ranges of [`LOG_RANGE_BLOCKS_MAX`] blocks.
    /// Endpoints are hints: whoever reaches one checks who answers.
    pub async fn endpoints_between(
        &self,
        from_block: u64,
        to_block: u64,
    ) -> Result<BTreeMap<Address, String>, ChainError> {
        let mut out = BTreeMap::new();
        let mut start = from_block;
        while start <= to_block {
            let end = to_block.min(start.saturating_add(LOG_RANGE_BLOCKS_MAX - 1));
            let filter = Filter::new()
                .address(self.manager())
                .event_signature(PoseManager::EndpointSet::SIGNATURE_HASH)
                .from_block(start)
                .to_block(end);
            for log in self.provider().get_logs(&filter).await? {
                if let Ok(e) = PoseManager::EndpointSet::decode_log(&log.inner) {
                    out.insert(e.data.enclave, e.data.endpoint);
                }
            }
            start = end + 1;
        }
        Ok(out)
    }

    /// The executor of the contract's current epoch.
    pub async fn executor_of(&self, cid: ContractId) -> Result<Address, ChainError> {
        self.read(&PoseManager::executorOfCall { cid: cid.0 }).await
    }

    // ---------------------------------------------------------------- local devnet only

    /// Moves the chain clock forward by `secs` and mines a block (anvil only).
    pub async fn anvil_increase_time(&self, secs: u64) -> Result<(), ChainError> {
        self.provider.anvil_increase_time(secs).await?;
        self.provider.evm_mine(None).await?;
        Ok(())
    }

    /// Mines `blocks` empty blocks (anvil only).
    pub async fn anvil_mine(&self, blocks: u64) -> Result<(), ChainError> {
        self.provider.anvil_mine(Some(blocks), None).await?;
        Ok(())
    }

    /// Sets the balance of `account` (anvil only); used to fund fresh test accounts.
    pub async fn anvil_set_balance(&self, account: Address, wei: U256) -> Result<(), ChainError> {
        self.provider.anvil_set_balance(account, wei).await?;
        Ok(())
    }
}

/// What a manager deployment needs, from [`ManagerClient::plan_deploy`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeployPlan {
    /// The chain id the node reports.
    pub chain_id: u64,
    /// The account that would deploy (and own) the manager.
    pub deployer: Address,
    /// Its balance, in wei.
    pub balance: U256,
    /// The node's gas estimate for the deployment.
    pub gas_estimate: u64,
    /// The gas limit the transaction would carry (the estimate plus a margin).
    pub gas_limit: u64,
    /// The most the transaction would offer per unit of gas, in wei.
    pub max_fee_per_gas: u128,
}

impl DeployPlan {
    /// What the deployer must hold for the node to accept the transaction: gas limit times
    /// the fee offered (only the gas used is paid, at the block's price).
    pub fn max_cost(&self) -> U256 {
        U256::from(self.gas_limit) * U256::from(self.max_fee_per_gas)
    }

    /// Whether the deployer holds [`DeployPlan::max_cost`].
    pub fn affordable(&self) -> bool {
        self.balance >= self.max_cost()
    }
}

/// The manager's creation code followed by its ABI-encoded constructor arguments.
fn deploy_code(vendor: Address, measurements: Vec<B256>) -> Vec<u8> {
    let mut code = PoseManager::BYTECODE.to_vec();
    code.extend_from_slice(
        &PoseManager::constructorCall {
            vendor_: vendor,
            measurements,
        }
        .abi_encode(),
    );
    code
}

/// Parses a private key given as 64 hex digits (with or without `0x`), e.g. from a config file
/// or the command line.
pub fn parse_private_key(hex_key: &str) -> Result<PrivateKeySigner, ChainError> {
    hex_key
        .trim()
        .parse::<PrivateKeySigner>()
        .map_err(|_| ChainError::Config("private key: expected 64 hex digits (32 bytes)".into()))
}

/// The gas limit for an estimate: the pool draw's cost depends on `prevrandao`, which differs
/// between estimation and inclusion, so the limit leaves room (only gas used is paid).
fn gas_limit_for(estimate: u64) -> u64 {
    estimate.saturating_mul(3) / 2 + GAS_LIMIT_MARGIN
}

/// Gas added to every estimate on top of 50 %.
const GAS_LIMIT_MARGIN: u64 = 100_000;

/// The first event of type `E` emitted by the manager in `receipt`.
pub fn find_event<E: SolEvent>(receipt: &TransactionReceipt) -> Option<E> {
    receipt
        .logs()
        .iter()
        .find_map(|log| log.log_decode::<E>().ok().map(|l| l.inner.data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gas_limit_leaves_room_and_saturates() {
        assert_eq!(gas_limit_for(100_000), 250_000);
        assert!(gas_limit_for(u64::MAX) >= u64::MAX / 2);
    }

    #[test]
    fn private_keys_parse_with_or_without_prefix_and_bad_ones_are_refused() {
        let hex = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
        let a = parse_private_key(hex).unwrap();
        let b = parse_private_key(&format!("0x{hex}\n")).unwrap();
        assert_eq!(a.address(), b.address());
        assert_eq!(
            a.address().to_string(),
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
        );
        assert!(matches!(
            parse_private_key("0x1234"),
            Err(ChainError::Config(_))
        ));
        assert!(matches!(
            parse_private_key(&"0".repeat(64)),
            Err(ChainError::Config(_))
        ));
    }

    #[test]
    fn a_deploy_plan_is_affordable_only_with_gas_limit_times_fee() {
        let mut plan = DeployPlan {
            chain_id: 1,
            deployer: Address::ZERO,
            balance: U256::from(2_999u64),
            gas_estimate: 2,
            gas_limit: 3,
            max_fee_per_gas: 1_000,
        };
        assert_eq!(plan.max_cost(), U256::from(3_000u64));
        assert!(!plan.affordable());
        plan.balance = U256::from(3_000u64);
        assert!(plan.affordable());
        plan.max_fee_per_gas = u128::MAX;
        plan.gas_limit = u64::MAX;
        assert!(!plan.affordable(), "no overflow on huge fees");
    }

    #[test]
    fn a_bad_rpc_url_is_a_config_error() {
        let err =
            provider_for(&ChainConfig::new("not a url"), PrivateKeySigner::random()).unwrap_err();
        assert!(matches!(err, ChainError::Config(_)));
    }
}
