// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title PoseManager
/// @notice The on-chain manager of POSE (Frassetto et al., NDSS 2023) as pose implements it:
/// enclave registry with attestation checks, per-contract execution pools drawn on-chain,
/// coins held for each contract, user challenges with an executor change on timeout, member
/// replacement, withdrawals and termination signed by the executor enclave.
/// @dev Normative rules (digest layouts, the incremental transaction hash, signature encoding)
/// are in docs/protocol.md. Every digest has a `hash*` view so off-chain code can be checked
/// against this contract. Every revert is a custom error; every state change emits an event.
/// No function loops over users or registered enclaves: every loop is bounded by
/// MAX_POOL_SIZE, MAX_PAYOUTS or MAX_REDRAWS.
contract PoseManager {
    // ------------------------------------------------------------------ constants

    /// @notice Largest execution pool a contract may ask for.
    uint256 public constant MAX_POOL_SIZE = 32;
    /// @notice Largest number of recipients in one termination.
    uint256 public constant MAX_PAYOUTS = 64;
    /// @notice Random operator draws per pool slot before the draw falls back to probing.
    uint256 public constant MAX_REDRAWS = 8;
    /// @notice Largest encrypted input a user may force on-chain with `challenge`.
    uint256 public constant MAX_INPUT_BYTES = 65536;
    /// @notice Largest encrypted output an executor may post with `respond`.
    uint256 public constant MAX_OUTPUT_BYTES = 65536;
    /// @notice Longest endpoint (a node's base URL) an operator may publish, in bytes.
    uint256 public constant MAX_ENDPOINT_BYTES = 256;

    uint256 private constant SECP256K1_HALF_N =
        0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    bytes32 private constant TAG_ATTESTATION = keccak256("pose.attestation.v1");
    bytes32 private constant TAG_ACCEPT = keccak256("pose.accept.v1");
    bytes32 private constant TAG_RESPOND = keccak256("pose.respond.v1");
    bytes32 private constant TAG_WITHDRAW = keccak256("pose.withdraw.v1");
    bytes32 private constant TAG_CHALLENGE_MEMBER = keccak256("pose.challenge-member.v1");
    bytes32 private constant TAG_RESPOND_MEMBER = keccak256("pose.respond-member.v2");
    bytes32 private constant TAG_TERMINATE = keccak256("pose.terminate.v1");
    bytes32 private constant TAG_REVIVE = keccak256("pose.revive.v1");
    bytes32 private constant TAG_TXHASH = keccak256("pose.txhash.v1");

    // ------------------------------------------------------------------ types

    /// @notice Life cycle of a contract. `None` marks an id that was never created.
    enum Phase {
        None,
        Creation,
        Executing,
        ChallengeExecutor,
        Crashed,
        Terminated
    }

    /// @notice Per-contract parameters chosen by the creator.
    struct Params {
        /// Number of pool members (1..MAX_POOL_SIZE); the first is the executor of epoch 0.
        uint8 poolSize;
        /// Seconds the executor has to answer a user challenge.
        uint32 responsePeriodSecs;
        /// Seconds a challenged member has to answer a member challenge.
        uint32 memberResponsePeriodSecs;
        /// Confirmations an enclave waits for before it credits a deposit (off-chain rule).
        uint16 confirmations;
    }

    /// @notice A registered enclave.
    struct Enclave {
        address operator;
        bytes32 measurement;
        bytes32 encPubKey;
        bool active;
        /// Its operator took it out (`deregisterEnclave`); false for a suspended enclave.
        bool deregistered;
        /// Position in its operator's list of active enclaves.
        uint32 listIndex;
    }

    /// @notice The on-chain record of one off-chain contract.
    struct Instance {
        address creator;
        Phase phase;
        uint8 executorIndex;
        uint8 timeoutsInARow;
        uint64 epoch;
        uint64 epochSince;
        uint64 nextChallengeId;
        uint64 openChallenges;
        uint64 lastSeq;
        /// Member challenges made while a user challenge was open (docs/protocol.md 6.6).
        uint64 memberChallenges;
        /// `memberChallenges` when the current epoch began: only later ones extend.
        uint64 memberChallengesAtEpoch;
        bytes32 codeHash;
        bytes32 contractEncKey;
        bytes32 lastStateHash;
        bytes32 txHash;
        uint256 balance;
        Params params;
    }

    /// @notice A user challenge: an input forced on-chain.
    struct Challenge {
        address user;
        uint64 deadline;
        bool open;
        bytes32 inputHash;
        /// The contract's `memberChallenges` when this challenge was opened: only later
        /// member challenges extend it.
        uint64 memberChallengesBefore;
    }

    // ------------------------------------------------------------------ errors

    error NotOwner(address caller);
    error ZeroAddress();
    error MeasurementNotAllowed(bytes32 measurement);
    error MeasurementAlreadyAllowed(bytes32 measurement);
    error EnclaveAlreadyRegistered(address enclave);
    error EnclaveNotActive(address enclave);
    error NotOperator(address caller, address operator);
    error EndpointTooLong(uint256 length);
    error AttestationNotByVendor(address recovered, address vendor);
    error BadSignatureLength(uint256 length);
    error BadSignatureV(uint8 v);
    error HighS();
    error BadSignature();
    error InvalidPoolSize(uint256 poolSize);
    error InvalidPeriod();
    error NotEnoughEnclaves(uint256 needed, uint256 available);
    error UnknownContract(uint64 cid);
    error WrongPhase(uint64 cid, Phase phase);
    error UnknownTxHash(uint64 cid, bytes32 txHash);
    error StaleTxHash(uint64 cid, bytes32 txHash, bytes32 current);
    error WrongSignatureCount(uint256 expected, uint256 got);
    error NotPoolMemberSignature(uint256 index, address recovered, address member);
    error ZeroDeposit();
    error BalanceOverflow();
    error InputTooLarge(uint256 length);
    error OutputTooLarge(uint256 length);
    error ChallengeNotOpen(uint64 cid, uint64 challengeId);
    error StaleSeq(uint64 seq, uint64 lastSeq);
    error NotExecutor(address recovered, address executor);
    error TooEarly(uint64 deadline);
    error NotPoolMember(uint64 cid, address member);
    error IsExecutor(uint64 cid, address member);
    error MemberAlreadyChallenged(uint64 cid, address member);
    error MemberNotChallenged(uint64 cid, address member);
    error DeadlinePassed(uint64 deadline);
    error NotMemberSignature(address recovered, address member);
    error NonceUsed(uint64 cid, uint64 nonce);
    error InsufficientBalance(uint256 requested, uint256 balance);
    error TransferFailed(address recipient, uint256 amount);
    error LengthMismatch(uint256 recipients, uint256 amounts);
    error TooManyPayouts(uint256 count);
    error NothingToClaim(address account);

    // ------------------------------------------------------------------ events

    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    event VendorChanged(address indexed vendor);
    event MeasurementAllowed(bytes32 indexed measurement);
    event MeasurementRevoked(bytes32 indexed measurement);
    /// @notice `vendorSig` is the attestation itself: pool members check each other's before
    /// they trust a key, and they learn it from this event.
    event EnclaveRegistered(
        address indexed enclave, address indexed operator, bytes32 measurement, bytes32 encPubKey, bytes vendorSig
    );
    event EnclaveDeregistered(address indexed enclave, address indexed operator);
    /// @notice Where the node hosting `enclave` is reached (its API base URL). A hint only:
    /// a wrong endpoint misroutes signed messages, which their receivers refuse.
    event EndpointSet(address indexed enclave, string endpoint);
    /// @notice `enclave` failed a member challenge of `cid` and is drawn into no pool again.
    event EnclaveSuspended(address indexed enclave, uint64 indexed cid);
    /// @notice Emitted by every transaction that concerns `cid`, with what an enclave needs to
    /// recompute `txHash` besides the block the log is in and the outcome, which the events
    /// after it in the same transaction show (docs/protocol.md section 3).
    event TxHashExtended(
        uint64 indexed cid, bytes32 txHash, address sender, uint256 value, bytes data
    );
    event ContractCreated(
        uint64 indexed cid, address indexed creator, bytes32 codeHash, Params params, address[] pool
    );
    event CreationCompleted(uint64 indexed cid, bytes32 contractEncKey, bytes32 initStateHash);
    event Deposited(uint64 indexed cid, address indexed from, uint256 amount, uint256 balance);
    event ChallengeOpened(
        uint64 indexed cid, uint64 indexed challengeId, address indexed user, uint64 deadline, bytes encryptedInput
    );
    event ChallengeAnswered(
        uint64 indexed cid,
        uint64 indexed challengeId,
        uint64 epoch,
        uint64 seq,
        bytes32 stateHash,
        bytes encryptedOutput
    );
    event ExecutorChanged(
        uint64 indexed cid, uint64 epoch, address indexed executor, uint64 indexed challengeId, uint64 deadline
    );
    event ContractCrashed(uint64 indexed cid, uint64 epoch);
    /// @notice A member of a crashed contract's pool took over as executor of `epoch`, holding
    /// the state (`seq`, `stateHash`).
    event ContractRevived(uint64 indexed cid, uint64 epoch, address indexed executor, uint64 seq, bytes32 stateHash);
    event MemberChallenged(uint64 indexed cid, uint64 epoch, address indexed member, uint64 deadline);
    event MemberResponded(uint64 indexed cid, uint64 epoch, address indexed member);
    event MemberRemoved(uint64 indexed cid, address indexed member, address indexed replacement, uint256 index);
    event Withdrawn(uint64 indexed cid, address indexed recipient, uint256 amount, uint64 nonce);
    event PayoutCredited(uint64 indexed cid, address indexed recipient, uint256 amount);
    event Terminated(uint64 indexed cid, uint64 epoch, uint256 paidOut, uint256 remainderToCreator);
    event Claimed(address indexed account, uint256 amount);

    // ------------------------------------------------------------------ state

    /// @notice May change the vendor and the allowed measurements.
    address public owner;
    /// @notice The software TEE vendor whose signature makes an attestation.
    address public vendor;
    /// @notice Measurements (enclave program identities) that may register.
    mapping(bytes32 => bool) public allowedMeasurement;
    /// @notice Every enclave that ever registered, by its address.
    mapping(address => Enclave) public enclaves;
    /// @notice Operators with at least one enclave that can be drawn into pools (unordered).
    address[] public activeOperators;
    /// Per operator, its enclaves that can be drawn into pools (unordered).
    mapping(address => address[]) private operatorEnclaves;
    /// Per operator, its position in `activeOperators` plus one (0: not listed).
    mapping(address => uint256) private operatorSlot;
    /// Number of enclaves that can be drawn into pools.
    uint256 private activeEnclaveTotal;
    /// @notice Number of contracts created; ids are 1..contractCount.
    uint64 public contractCount;

    mapping(uint64 => Instance) private instances;
    mapping(uint64 => address[]) private pools;
    mapping(uint64 => mapping(address => bool)) private inPool;
    mapping(uint64 => mapping(address => uint64)) private memberDeadlines;
    mapping(uint64 => mapping(bytes32 => bool)) private knownTxHashes;
    mapping(uint64 => mapping(uint64 => bool)) private usedNonces;
    mapping(uint64 => mapping(uint64 => Challenge)) private challenges;
    /// Deadline of the k-th member challenge (k from 1) made while a user challenge was open.
    mapping(uint64 => mapping(uint64 => uint64)) private memberChallengeDeadlines;
    /// @notice Coins credited by terminations and refused withdrawals, redeemed with `claim`.
    mapping(address => uint256) public claimable;
    /// @notice The endpoint each enclave's operator published last (`setEndpoint`).
    mapping(address => string) public endpointOf;

    // ------------------------------------------------------------------ owner

    /// @param vendor_ The TEE vendor's address (attestation signer).
    /// @param measurements The enclave measurements allowed from the start.
    constructor(address vendor_, bytes32[] memory measurements) {
        if (vendor_ == address(0)) revert ZeroAddress();
        owner = msg.sender;
        vendor = vendor_;
        emit OwnershipTransferred(address(0), msg.sender);
        emit VendorChanged(vendor_);
        for (uint256 i = 0; i < measurements.length; i++) {
            allowedMeasurement[measurements[i]] = true;
            emit MeasurementAllowed(measurements[i]);
        }
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _;
    }

    /// @notice Hands the owner role to `newOwner`.
    function transferOwnership(address newOwner) external onlyOwner {
        if (newOwner == address(0)) revert ZeroAddress();
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }

    /// @notice Replaces the vendor key; enclaves already registered stay registered.
    function setVendor(address newVendor) external onlyOwner {
        if (newVendor == address(0)) revert ZeroAddress();
        vendor = newVendor;
        emit VendorChanged(newVendor);
    }

    /// @notice Allows enclaves with `measurement` to register.
    function allowMeasurement(bytes32 measurement) external onlyOwner {
        if (allowedMeasurement[measurement]) revert MeasurementAlreadyAllowed(measurement);
        allowedMeasurement[measurement] = true;
        emit MeasurementAllowed(measurement);
    }

    /// @notice Stops new registrations with `measurement` (registered enclaves are not touched:
    /// their operators deregister them, or executors replace them through member challenges).
    function revokeMeasurement(bytes32 measurement) external onlyOwner {
        if (!allowedMeasurement[measurement]) revert MeasurementNotAllowed(measurement);
        allowedMeasurement[measurement] = false;
        emit MeasurementRevoked(measurement);
    }

    // ------------------------------------------------------------------ registry

    /// @notice Registers an enclave with its vendor attestation. The caller becomes its operator.
    function registerEnclave(bytes32 measurement, address enclave, bytes32 encPubKey, bytes calldata vendorSig)
        external
    {
        if (enclave == address(0)) revert ZeroAddress();
        if (!allowedMeasurement[measurement]) revert MeasurementNotAllowed(measurement);
        if (enclaves[enclave].operator != address(0)) revert EnclaveAlreadyRegistered(enclave);
        address signer = _recover(hashAttestation(measurement, enclave, encPubKey), vendorSig);
        if (signer != vendor) revert AttestationNotByVendor(signer, vendor);
        address[] storage own = operatorEnclaves[msg.sender];
        enclaves[enclave] = Enclave({
            operator: msg.sender,
            measurement: measurement,
            encPubKey: encPubKey,
            active: true,
            deregistered: false,
            listIndex: uint32(own.length)
        });
        own.push(enclave);
        if (own.length == 1) {
            activeOperators.push(msg.sender);
            operatorSlot[msg.sender] = activeOperators.length;
        }
        activeEnclaveTotal += 1;
        emit EnclaveRegistered(enclave, msg.sender, measurement, encPubKey, vendorSig);
    }

    /// @notice The operator publishes where the node hosting its active enclave is reached, so
    /// other nodes and users find it without configuration (`endpointOf`, `EndpointSet`).
    function setEndpoint(address enclave, string calldata endpoint) external {
        Enclave storage e = enclaves[enclave];
        if (!e.active) revert EnclaveNotActive(enclave);
        if (e.operator != msg.sender) revert NotOperator(msg.sender, e.operator);
        if (bytes(endpoint).length > MAX_ENDPOINT_BYTES) revert EndpointTooLong(bytes(endpoint).length);
        endpointOf[enclave] = endpoint;
        emit EndpointSet(enclave, endpoint);
    }

    /// @notice The operator takes its enclave out of future draws. Pools it is in replace it
    /// with `removeMember`, which needs no member challenge for a deregistered enclave.
    function deregisterEnclave(address enclave) external {
        Enclave storage e = enclaves[enclave];
        if (!e.active) revert EnclaveNotActive(enclave);
        if (e.operator != msg.sender) revert NotOperator(msg.sender, e.operator);
        _deactivate(enclave);
        e.deregistered = true;
        emit EnclaveDeregistered(enclave, msg.sender);
    }

    /// @notice Number of enclaves that can be drawn into pools.
    function activeEnclaveCount() external view returns (uint256) {
        return activeEnclaveTotal;
    }

    /// @notice Number of operators with an enclave that can be drawn: the largest pool a new
    /// contract can have (no operator has two members in one pool).
    function activeOperatorCount() external view returns (uint256) {
        return activeOperators.length;
    }

    /// @notice The enclaves of `operator` that can be drawn into pools (unordered).
    function activeEnclavesOf(address operator) external view returns (address[] memory) {
        return operatorEnclaves[operator];
    }

    // ------------------------------------------------------------------ creation

    /// @notice Creates a contract and draws its pool on-chain; the first member is the executor
    /// of epoch 0 and must post the members' acceptances with `completeCreation`.
    function createContract(bytes32 codeHash, Params calldata params) external returns (uint64 cid) {
        if (params.poolSize == 0 || params.poolSize > MAX_POOL_SIZE) revert InvalidPoolSize(params.poolSize);
        if (params.responsePeriodSecs == 0 || params.memberResponsePeriodSecs == 0) revert InvalidPeriod();
        // Members of one pool have distinct operators, so the pool needs that many operators.
        if (activeOperators.length < params.poolSize) {
            revert NotEnoughEnclaves(params.poolSize, activeOperators.length);
        }
        cid = ++contractCount;
        Instance storage inst = instances[cid];
        inst.creator = msg.sender;
        inst.phase = Phase.Creation;
        inst.epochSince = uint64(block.timestamp);
        inst.codeHash = codeHash;
        inst.params = params;
        inst.txHash = hashTxGenesis(cid);
        bytes32 seed = keccak256(abi.encode(block.prevrandao, cid, inst.txHash));
        address[] storage pool = pools[cid];
        for (uint256 slot = 0; slot < params.poolSize; slot++) {
            address member = _draw(cid, seed, slot);
            pool.push(member);
            inPool[cid][member] = true;
        }
        _extend(cid, keccak256(abi.encode(pool)));
        emit ContractCreated(cid, msg.sender, codeHash, params, pool);
    }

    /// @notice Starts execution: every pool member (in pool order) signed its acceptance of the
    /// contract key and initial state over a transaction hash the chain produced.
    function completeCreation(
        uint64 cid,
        bytes32 contractEncKey,
        bytes32 initStateHash,
        bytes32 txHash,
        bytes[] calldata sigs
    ) external {
        Instance storage inst = _instance(cid);
        if (inst.phase != Phase.Creation) revert WrongPhase(cid, inst.phase);
        _requireKnown(cid, txHash);
        address[] storage pool = pools[cid];
        if (sigs.length != pool.length) revert WrongSignatureCount(pool.length, sigs.length);
        bytes32 digest = hashAccept(cid, inst.codeHash, contractEncKey, initStateHash, txHash);
        for (uint256 i = 0; i < sigs.length; i++) {
            address signer = _recover(digest, sigs[i]);
            if (signer != pool[i]) revert NotPoolMemberSignature(i, signer, pool[i]);
        }
        inst.contractEncKey = contractEncKey;
        inst.lastStateHash = initStateHash;
        inst.phase = Phase.Executing;
        inst.epochSince = uint64(block.timestamp);
        _extend(cid, bytes32(0));
        emit CreationCompleted(cid, contractEncKey, initStateHash);
    }

    // ------------------------------------------------------------------ coins in

    /// @notice Adds `msg.value` to the contract's balance, held by this manager.
    function deposit(uint64 cid) external payable {
        Instance storage inst = _instance(cid);
        _requireLive(cid, inst);
        if (msg.value == 0) revert ZeroDeposit();
        uint256 balance = inst.balance + msg.value;
        if (balance > type(uint128).max) revert BalanceOverflow();
        inst.balance = balance;
        _extend(cid, bytes32(0));
        emit Deposited(cid, msg.sender, msg.value, balance);
    }

    // ------------------------------------------------------------------ user challenges

    /// @notice Forces an encrypted input on-chain; the executor must `respond` in time.
    function challenge(uint64 cid, bytes calldata encryptedInput) external returns (uint64 challengeId) {
        Instance storage inst = _instance(cid);
        _requireLive(cid, inst);
        if (encryptedInput.length > MAX_INPUT_BYTES) revert InputTooLarge(encryptedInput.length);
        challengeId = ++inst.nextChallengeId;
        uint64 deadline = uint64(block.timestamp) + inst.params.responsePeriodSecs;
        challenges[cid][challengeId] = Challenge({
            user: msg.sender,
            deadline: deadline,
            open: true,
            inputHash: keccak256(encryptedInput),
            memberChallengesBefore: inst.memberChallenges
        });
        inst.openChallenges += 1;
        inst.phase = Phase.ChallengeExecutor;
        _extend(cid, bytes32(uint256(challengeId)));
        emit ChallengeOpened(cid, challengeId, msg.sender, deadline, encryptedInput);
    }

    /// @notice The executor of the current epoch answers a challenge.
    function respond(
        uint64 cid,
        uint64 challengeId,
        bytes calldata encryptedOutput,
        uint64 seq,
        bytes32 stateHash,
        bytes32 txHash,
        bytes calldata sig
    ) external {
        Instance storage inst = _instance(cid);
        if (inst.phase != Phase.ChallengeExecutor) revert WrongPhase(cid, inst.phase);
        Challenge storage ch = challenges[cid][challengeId];
        if (!ch.open) revert ChallengeNotOpen(cid, challengeId);
        if (encryptedOutput.length > MAX_OUTPUT_BYTES) revert OutputTooLarge(encryptedOutput.length);
        _requireKnown(cid, txHash);
        if (seq < inst.lastSeq) revert StaleSeq(seq, inst.lastSeq);
        bytes32 digest =
            hashRespond(cid, challengeId, inst.epoch, keccak256(encryptedOutput), seq, stateHash, txHash);
        _requireExecutor(cid, inst, digest, sig);
        ch.open = false;
        inst.openChallenges -= 1;
        if (inst.openChallenges == 0) inst.phase = Phase.Executing;
        inst.lastSeq = seq;
        inst.lastStateHash = stateHash;
        inst.timeoutsInARow = 0;
        _extend(cid, bytes32(0));
        emit ChallengeAnswered(cid, challengeId, inst.epoch, seq, stateHash, encryptedOutput);
    }

    /// @notice After a challenge's deadline, anyone moves the executor role to the next pool
    /// member (`epoch += 1`). The challenge stays open with a fresh deadline. When every member
    /// in turn let a deadline pass, the contract is crashed until a member `revive`s it.
    function timeoutChallenge(uint64 cid, uint64 challengeId) external {
        Instance storage inst = _instance(cid);
        if (inst.phase != Phase.ChallengeExecutor) revert WrongPhase(cid, inst.phase);
        Challenge storage ch = challenges[cid][challengeId];
        if (!ch.open) revert ChallengeNotOpen(cid, challengeId);
        uint64 deadline = effectiveDeadline(cid, challengeId);
        if (block.timestamp <= deadline) revert TooEarly(deadline);
        address[] storage pool = pools[cid];
        inst.executorIndex = uint8((uint256(inst.executorIndex) + 1) % pool.length);
        inst.epoch += 1;
        inst.epochSince = uint64(block.timestamp);
        inst.timeoutsInARow += 1;
        inst.memberChallengesAtEpoch = inst.memberChallenges;
        uint64 newDeadline = uint64(block.timestamp) + inst.params.responsePeriodSecs;
        ch.deadline = newDeadline;
        _extend(cid, bytes32(0));
        emit ExecutorChanged(cid, inst.epoch, pool[inst.executorIndex], challengeId, newDeadline);
        if (inst.timeoutsInARow >= pool.length) {
            inst.phase = Phase.Crashed;
            emit ContractCrashed(cid, inst.epoch);
        }
    }

    /// @notice The time after which `timeoutChallenge` may be called: the challenge's own
    /// deadline, but never earlier than one response period after the current executor took
    /// over (so one missed deadline cannot move the executor twice), nor than one response
    /// period after the deadline of a member challenge made since the challenge was opened in
    /// this epoch (the executor may be replacing a silent member first). Of those member
    /// challenges only the first `poolSize - 1` count; their deadlines never decrease, so the
    /// last one counted is the latest (docs/protocol.md 6.6).
    function effectiveDeadline(uint64 cid, uint64 challengeId) public view returns (uint64) {
        Instance storage inst = instances[cid];
        Challenge storage ch = challenges[cid][challengeId];
        uint64 period = inst.params.responsePeriodSecs;
        uint64 deadline = ch.deadline;
        uint64 sinceEpoch = inst.epochSince + period;
        if (sinceEpoch > deadline) deadline = sinceEpoch;
        uint64 from = ch.memberChallengesBefore;
        if (inst.memberChallengesAtEpoch > from) from = inst.memberChallengesAtEpoch;
        uint64 count = inst.memberChallenges - from;
        uint64 maxCount = uint64(inst.params.poolSize) - 1;
        if (count > maxCount) count = maxCount;
        if (count > 0) {
            uint64 extended = memberChallengeDeadlines[cid][from + count] + period;
            if (extended > deadline) deadline = extended;
        }
        return deadline;
    }

    /// @notice In Crashed (every member in turn let a deadline pass), a pool member whose
    /// enclave still holds the contract's state takes over as executor: it signs the state it
    /// holds (`seq`, `stateHash`, never older than the last state answered on-chain) and a
    /// transaction hash the chain produced, under the crashed epoch. The contract runs again
    /// in a new epoch with a full response period, so its coins are never locked while one
    /// member's enclave holds its state.
    function revive(
        uint64 cid,
        address member,
        uint64 seq,
        bytes32 stateHash,
        bytes32 txHash,
        bytes calldata sig
    ) external {
        Instance storage inst = _instance(cid);
        if (inst.phase != Phase.Crashed) revert WrongPhase(cid, inst.phase);
        if (!inPool[cid][member]) revert NotPoolMember(cid, member);
        _requireKnown(cid, txHash);
        if (seq < inst.lastSeq) revert StaleSeq(seq, inst.lastSeq);
        address signer = _recover(hashRevive(cid, inst.epoch, member, seq, stateHash, txHash), sig);
        if (signer != member) revert NotMemberSignature(signer, member);
        address[] storage pool = pools[cid];
        uint256 idx = 0;
        while (pool[idx] != member) idx++; // bounded: the pool has at most MAX_POOL_SIZE members
        inst.executorIndex = uint8(idx);
        inst.epoch += 1;
        inst.epochSince = uint64(block.timestamp);
        inst.timeoutsInARow = 0;
        inst.memberChallengesAtEpoch = inst.memberChallenges;
        inst.phase = inst.openChallenges > 0 ? Phase.ChallengeExecutor : Phase.Executing;
        _extend(cid, bytes32(0));
        emit ContractRevived(cid, inst.epoch, member, seq, stateHash);
    }

    // ------------------------------------------------------------------ member replacement

    /// @notice The executor reports a silent pool member, which must `respondMember` in time.
    /// Open user challenges then wait for the member's deadline plus a response period, at
    /// most `poolSize - 1` times each (`effectiveDeadline`).
    function challengeMember(uint64 cid, address member, bytes32 txHash, bytes calldata sig) external {
        Instance storage inst = _instance(cid);
        _requirePoolPhase(cid, inst);
        if (!inPool[cid][member]) revert NotPoolMember(cid, member);
        if (member == pools[cid][inst.executorIndex]) revert IsExecutor(cid, member);
        if (memberDeadlines[cid][member] != 0) revert MemberAlreadyChallenged(cid, member);
        _requireKnown(cid, txHash);
        _requireExecutor(cid, inst, hashChallengeMember(cid, inst.epoch, member, txHash), sig);
        uint64 deadline = uint64(block.timestamp) + inst.params.memberResponsePeriodSecs;
        memberDeadlines[cid][member] = deadline;
        if (inst.openChallenges > 0) {
            // Open user challenges wait for this member's replacement (effectiveDeadline).
            uint64 k = ++inst.memberChallenges;
            memberChallengeDeadlines[cid][k] = deadline;
        }
        _extend(cid, bytes32(0));
        emit MemberChallenged(cid, inst.epoch, member, deadline);
    }

    /// @notice A challenged member proves it is alive before its deadline. It signs the
    /// sequence number and hash of the state it holds, so the response doubles as its ack of
    /// that state: an executor whose off-chain acks from this member never arrive (a host
    /// dropping or corrupting them) takes the ack from the chain instead. The manager checks
    /// only the signature; what the state means is the enclaves' business.
    function respondMember(
        uint64 cid,
        address member,
        uint64 seq,
        bytes32 stateHash,
        bytes32 txHash,
        bytes calldata sig
    ) external {
        Instance storage inst = _instance(cid);
        _requirePoolPhase(cid, inst);
        uint64 deadline = memberDeadlines[cid][member];
        if (deadline == 0) revert MemberNotChallenged(cid, member);
        if (block.timestamp > deadline) revert DeadlinePassed(deadline);
        _requireKnown(cid, txHash);
        address signer = _recover(hashRespondMember(cid, inst.epoch, member, seq, stateHash, txHash), sig);
        if (signer != member) revert NotMemberSignature(signer, member);
        memberDeadlines[cid][member] = 0;
        _extend(cid, bytes32(0));
        emit MemberResponded(cid, inst.epoch, member);
    }

    /// @notice Removes a member whose challenge deadline passed, or whose enclave its operator
    /// deregistered, and draws its replacement (same slot, same rule as at creation) from the
    /// active enclaves of operators with no member in the pool (the removed member's operator
    /// included). Only when none is left does the pool shrink.
    function removeMember(uint64 cid, address member) external {
        Instance storage inst = _instance(cid);
        _requirePoolPhase(cid, inst);
        if (!inPool[cid][member]) revert NotPoolMember(cid, member);
        address[] storage pool = pools[cid];
        if (member == pool[inst.executorIndex]) revert IsExecutor(cid, member);
        uint64 deadline = memberDeadlines[cid][member];
        Enclave storage e = enclaves[member];
        // Only its operator's word removes a member without a challenge. A member suspended by
        // another pool may still serve this one: it is challenged here like any member.
        if (!e.deregistered) {
            if (deadline == 0) revert MemberNotChallenged(cid, member);
            if (block.timestamp <= deadline) revert TooEarly(deadline);
        }
        bool suspend = e.active;
        uint256 idx = 0;
        while (pool[idx] != member) idx++; // bounded: the pool has at most MAX_POOL_SIZE members
        bytes32 seed = keccak256(abi.encode(block.prevrandao, cid, inst.txHash));
        address replacement = _draw(cid, seed, idx);
        _extend(cid, keccak256(abi.encode(replacement)));
        inPool[cid][member] = false;
        memberDeadlines[cid][member] = 0;
        if (replacement != address(0)) {
            pool[idx] = replacement;
            inPool[cid][replacement] = true;
        } else {
            for (uint256 j = idx; j + 1 < pool.length; j++) {
                pool[j] = pool[j + 1];
            }
            pool.pop();
            if (idx < inst.executorIndex) inst.executorIndex -= 1;
        }
        emit MemberRemoved(cid, member, replacement, idx);
        if (suspend) {
            // It did not answer a member challenge: no pool draws it again (its operator
            // registers a new enclave). Otherwise every pool it is drawn into must challenge
            // and remove it once more, and a contract whose executor keeps drawing dead
            // members runs out of response periods.
            _deactivate(member);
            emit EnclaveSuspended(member, cid);
        }
    }

    // ------------------------------------------------------------------ coins out

    /// @notice Pays out what the executor of the current epoch signed over a transaction hash
    /// this chain produced for `cid`, once per nonce, never above the balance. If the recipient
    /// refuses the coins, they are credited to `claimable[recipient]` instead (`PayoutCredited`)
    /// and the nonce is used all the same, so a refusing recipient cannot hold back a
    /// termination that waits for every payout.
    function withdraw(
        uint64 cid,
        address recipient,
        uint256 amount,
        uint64 nonce,
        bytes32 txHash,
        bytes calldata sig
    ) external {
        Instance storage inst = _instance(cid);
        _requireLive(cid, inst);
        if (recipient == address(0)) revert ZeroAddress();
        _requireKnown(cid, txHash);
        if (usedNonces[cid][nonce]) revert NonceUsed(cid, nonce);
        if (amount > inst.balance) revert InsufficientBalance(amount, inst.balance);
        _requireExecutor(cid, inst, hashWithdraw(cid, inst.epoch, recipient, amount, nonce, txHash), sig);
        // Effects before the transfer (checks-effects-interactions).
        usedNonces[cid][nonce] = true;
        inst.balance -= amount;
        _extend(cid, bytes32(0));
        emit Withdrawn(cid, recipient, amount, nonce);
        (bool ok,) = recipient.call{value: amount}("");
        if (!ok) {
            claimable[recipient] += amount;
            emit PayoutCredited(cid, recipient, amount);
        }
    }

    /// @notice Closes the contract with the final payouts the executor signed over the current
    /// transaction hash. Payouts are credited to `claimable` (a recipient that refuses coins
    /// cannot block the termination); what the payouts leave of the balance is credited to the
    /// creator.
    function terminate(
        uint64 cid,
        address[] calldata recipients,
        uint256[] calldata amounts,
        bytes32 txHash,
        bytes calldata sig
    ) external {
        Instance storage inst = _instance(cid);
        _requireLive(cid, inst);
        if (recipients.length != amounts.length) revert LengthMismatch(recipients.length, amounts.length);
        if (recipients.length > MAX_PAYOUTS) revert TooManyPayouts(recipients.length);
        // Only over the current value: a deposit (or any transaction) after the executor signed
        // makes the termination fail, so it is folded (and refunded) before the executor signs
        // again, instead of ending up with the creator.
        if (txHash != inst.txHash) revert StaleTxHash(cid, txHash, inst.txHash);
        bytes32 payoutsHash = hashPayouts(recipients, amounts);
        _requireExecutor(cid, inst, hashTerminate(cid, inst.epoch, payoutsHash, txHash), sig);
        uint256 total = 0;
        uint256 balance = inst.balance;
        for (uint256 i = 0; i < recipients.length; i++) {
            if (recipients[i] == address(0)) revert ZeroAddress();
            // Each amount is at most the balance (< 2^128), so 64 of them cannot overflow.
            if (amounts[i] > balance) revert InsufficientBalance(amounts[i], balance);
            total += amounts[i];
        }
        if (total > balance) revert InsufficientBalance(total, balance);
        inst.balance = 0;
        inst.phase = Phase.Terminated;
        for (uint256 i = 0; i < recipients.length; i++) {
            claimable[recipients[i]] += amounts[i];
            emit PayoutCredited(cid, recipients[i], amounts[i]);
        }
        uint256 remainder = balance - total;
        if (remainder > 0) {
            claimable[inst.creator] += remainder;
            emit PayoutCredited(cid, inst.creator, remainder);
        }
        _extend(cid, bytes32(0));
        emit Terminated(cid, inst.epoch, total, remainder);
    }

    /// @notice Pays the caller everything terminations credited to it.
    function claim() external {
        uint256 amount = claimable[msg.sender];
        if (amount == 0) revert NothingToClaim(msg.sender);
        claimable[msg.sender] = 0;
        emit Claimed(msg.sender, amount);
        (bool ok,) = msg.sender.call{value: amount}("");
        if (!ok) revert TransferFailed(msg.sender, amount);
    }

    // ------------------------------------------------------------------ views

    /// @notice The full record of contract `cid`.
    function getContract(uint64 cid) external view returns (Instance memory) {
        return instances[cid];
    }

    /// @notice The pool of `cid`, in order (index = position in the executor rotation).
    function getPool(uint64 cid) external view returns (address[] memory) {
        return pools[cid];
    }

    /// @notice The executor of the current epoch.
    function executorOf(uint64 cid) external view returns (address) {
        return pools[cid][_instance(cid).executorIndex];
    }

    /// @notice The current incremental transaction hash of `cid`.
    function txHashOf(uint64 cid) external view returns (bytes32) {
        return instances[cid].txHash;
    }

    /// @notice Whether the chain produced `txHash` for `cid`.
    function isKnownTxHash(uint64 cid, bytes32 txHash) external view returns (bool) {
        return knownTxHashes[cid][txHash];
    }

    /// @notice Whether withdrawal `nonce` of `cid` was redeemed.
    function isNonceUsed(uint64 cid, uint64 nonce) external view returns (bool) {
        return usedNonces[cid][nonce];
    }

    /// @notice Challenge `challengeId` of `cid`.
    function getChallenge(uint64 cid, uint64 challengeId) external view returns (Challenge memory) {
        return challenges[cid][challengeId];
    }

    /// @notice Deadline of the open member challenge against `member` (0: none).
    function memberDeadline(uint64 cid, address member) external view returns (uint64) {
        return memberDeadlines[cid][member];
    }

    /// @notice Whether `member` is in the pool of `cid`.
    function isPoolMember(uint64 cid, address member) external view returns (bool) {
        return inPool[cid][member];
    }

    // ------------------------------------------------------------------ digests (docs/protocol.md)

    /// @notice Digest the vendor signs to attest an enclave.
    function hashAttestation(bytes32 measurement, address enclave, bytes32 encPubKey) public view returns (bytes32) {
        return keccak256(abi.encode(TAG_ATTESTATION, block.chainid, address(this), measurement, enclave, encPubKey));
    }

    /// @notice Digest a pool member signs to accept a contract's creation.
    function hashAccept(uint64 cid, bytes32 codeHash, bytes32 contractEncKey, bytes32 initStateHash, bytes32 txHash)
        public
        view
        returns (bytes32)
    {
        return keccak256(
            abi.encode(TAG_ACCEPT, block.chainid, address(this), cid, codeHash, contractEncKey, initStateHash, txHash)
        );
    }

    /// @notice Digest the executor signs to answer a challenge; `outputHash` is
    /// keccak256(encryptedOutput).
    function hashRespond(
        uint64 cid,
        uint64 challengeId,
        uint64 epoch,
        bytes32 outputHash,
        uint64 seq,
        bytes32 stateHash,
        bytes32 txHash
    ) public view returns (bytes32) {
        bytes memory head = abi.encode(TAG_RESPOND, block.chainid, address(this), cid, challengeId, epoch);
        return keccak256(bytes.concat(head, abi.encode(outputHash, seq, stateHash, txHash)));
    }

    /// @notice Digest the executor signs to authorise a withdrawal.
    function hashWithdraw(uint64 cid, uint64 epoch, address recipient, uint256 amount, uint64 nonce, bytes32 txHash)
        public
        view
        returns (bytes32)
    {
        bytes memory head = abi.encode(TAG_WITHDRAW, block.chainid, address(this), cid, epoch);
        return keccak256(bytes.concat(head, abi.encode(recipient, amount, nonce, txHash)));
    }

    /// @notice Digest the executor signs to challenge a pool member.
    function hashChallengeMember(uint64 cid, uint64 epoch, address member, bytes32 txHash)
        public
        view
        returns (bytes32)
    {
        return keccak256(abi.encode(TAG_CHALLENGE_MEMBER, block.chainid, address(this), cid, epoch, member, txHash));
    }

    /// @notice Digest a challenged member signs to answer its challenge: the state it holds
    /// (`seq`, `stateHash`) and the `txHash` it has seen.
    function hashRespondMember(
        uint64 cid,
        uint64 epoch,
        address member,
        uint64 seq,
        bytes32 stateHash,
        bytes32 txHash
    ) public view returns (bytes32) {
        return keccak256(
            abi.encode(TAG_RESPOND_MEMBER, block.chainid, address(this), cid, epoch, member, seq, stateHash, txHash)
        );
    }

    /// @notice Digest the executor signs to terminate; `payoutsHash` is `hashPayouts(..)`.
    function hashTerminate(uint64 cid, uint64 epoch, bytes32 payoutsHash, bytes32 txHash)
        public
        view
        returns (bytes32)
    {
        return keccak256(abi.encode(TAG_TERMINATE, block.chainid, address(this), cid, epoch, payoutsHash, txHash));
    }

    /// @notice Digest a pool member signs to revive a crashed contract with the state it holds.
    function hashRevive(uint64 cid, uint64 epoch, address member, uint64 seq, bytes32 stateHash, bytes32 txHash)
        public
        view
        returns (bytes32)
    {
        return keccak256(
            abi.encode(TAG_REVIVE, block.chainid, address(this), cid, epoch, member, seq, stateHash, txHash)
        );
    }

    /// @notice keccak256(abi.encode(recipients, amounts)), the payouts part of a termination.
    function hashPayouts(address[] calldata recipients, uint256[] calldata amounts) public pure returns (bytes32) {
        return keccak256(abi.encode(recipients, amounts));
    }

    /// @notice The incremental transaction hash of `cid` before its first transaction.
    function hashTxGenesis(uint64 cid) public view returns (bytes32) {
        return keccak256(abi.encode(TAG_TXHASH, block.chainid, address(this), cid));
    }

    /// @notice One step of the incremental transaction hash: the transaction's calldata,
    /// sender and value, the block it is in, and `outcome`, what the chain decided that the
    /// calldata cannot show (docs/protocol.md section 3).
    function hashTxStep(
        bytes32 prev,
        bytes calldata data,
        address sender,
        uint256 value,
        uint256 blockNumber,
        uint256 blockTimestamp,
        bytes32 outcome
    ) public pure returns (bytes32) {
        return keccak256(abi.encode(prev, keccak256(data), sender, value, blockNumber, blockTimestamp, outcome));
    }

    // ------------------------------------------------------------------ internals

    function _instance(uint64 cid) private view returns (Instance storage inst) {
        inst = instances[cid];
        if (inst.phase == Phase.None) revert UnknownContract(cid);
    }

    function _requireLive(uint64 cid, Instance storage inst) private view {
        if (inst.phase != Phase.Executing && inst.phase != Phase.ChallengeExecutor) revert WrongPhase(cid, inst.phase);
    }

    function _requirePoolPhase(uint64 cid, Instance storage inst) private view {
        Phase p = inst.phase;
        if (p != Phase.Creation && p != Phase.Executing && p != Phase.ChallengeExecutor) revert WrongPhase(cid, p);
    }

    function _requireKnown(uint64 cid, bytes32 txHash) private view {
        if (!knownTxHashes[cid][txHash]) revert UnknownTxHash(cid, txHash);
    }

    function _requireExecutor(uint64 cid, Instance storage inst, bytes32 digest, bytes calldata sig) private view {
        address signer = _recover(digest, sig);
        address executor = pools[cid][inst.executorIndex];
        if (signer != executor) revert NotExecutor(signer, executor);
    }

    /// Extends the incremental transaction hash of `cid` with this transaction, the block it
    /// is in and `outcome`: keccak256(abi.encode(pool)) of the pool drawn by `createContract`,
    /// keccak256(abi.encode(replacement)) at `removeMember`, the id at `challenge`, else 0.
    function _extend(uint64 cid, bytes32 outcome) private returns (bytes32 h) {
        Instance storage inst = instances[cid];
        h = keccak256(
            abi.encode(
                inst.txHash, keccak256(msg.data), msg.sender, msg.value, block.number, block.timestamp, outcome
            )
        );
        inst.txHash = h;
        knownTxHashes[cid][h] = true;
        emit TxHashExtended(cid, h, msg.sender, msg.value, msg.data);
    }

    /// Takes `enclave` out of its operator's active list (swap with the last entry, pop), and
    /// the operator out of `activeOperators` when that was its last active enclave.
    function _deactivate(address enclave) private {
        Enclave storage e = enclaves[enclave];
        address operator = e.operator;
        address[] storage own = operatorEnclaves[operator];
        uint256 idx = e.listIndex;
        address last = own[own.length - 1];
        own[idx] = last;
        enclaves[last].listIndex = uint32(idx);
        own.pop();
        e.active = false;
        activeEnclaveTotal -= 1;
        if (own.length == 0) {
            uint256 slot = operatorSlot[operator] - 1;
            address lastOperator = activeOperators[activeOperators.length - 1];
            activeOperators[slot] = lastOperator;
            operatorSlot[lastOperator] = slot + 1;
            activeOperators.pop();
            operatorSlot[operator] = 0;
        }
    }

    /// Whether an enclave of `operator` is in `pool` (at most MAX_POOL_SIZE reads).
    function _operatorInPool(address[] storage pool, address operator) private view returns (bool) {
        for (uint256 j = 0; j < pool.length; j++) {
            if (enclaves[pool[j]].operator == operator) return true;
        }
        return false;
    }

    /// Draws an active enclave of an operator with no member in the pool of `cid` (so not a
    /// member itself), or address(0) if there is none. The draw is over operators, then over
    /// the drawn operator's active enclaves: registering more enclaves buys an operator no
    /// larger share of pools. Up to MAX_REDRAWS uniform operator draws reject operators already
    /// in the pool; if all hit, the draw probes onwards from the last index. At most
    /// `pool.length` operators have a member in the pool, so `pool.length + 1` consecutive
    /// operators always contain a free one when any exists: every loop is bounded by
    /// MAX_POOL_SIZE + 1 steps of at most MAX_POOL_SIZE reads.
    function _draw(uint64 cid, bytes32 seed, uint256 slot) private view returns (address) {
        uint256 n = activeOperators.length;
        if (n == 0) return address(0);
        address[] storage pool = pools[cid];
        uint256 idx = 0;
        address operator = address(0);
        for (uint256 attempt = 0; attempt < MAX_REDRAWS && operator == address(0); attempt++) {
            idx = uint256(keccak256(abi.encode(seed, slot, attempt))) % n;
            if (!_operatorInPool(pool, activeOperators[idx])) operator = activeOperators[idx];
        }
        if (operator == address(0)) {
            uint256 probes = pool.length + 1;
            if (probes > n) probes = n;
            for (uint256 j = 1; j < probes && operator == address(0); j++) {
                address candidate = activeOperators[(idx + j) % n];
                if (!_operatorInPool(pool, candidate)) operator = candidate;
            }
        }
        if (operator == address(0)) return address(0);
        address[] storage own = operatorEnclaves[operator];
        return own[uint256(keccak256(abi.encode(seed, slot, operator))) % own.length];
    }

    /// Recovers the signer of a raw 65-byte `r || s || v` signature (v in {27, 28}, low s).
    function _recover(bytes32 digest, bytes calldata sig) private pure returns (address signer) {
        if (sig.length != 65) revert BadSignatureLength(sig.length);
        bytes32 r = bytes32(sig[0:32]);
        bytes32 s = bytes32(sig[32:64]);
        uint8 v = uint8(sig[64]);
        if (v != 27 && v != 28) revert BadSignatureV(v);
        if (uint256(s) > SECP256K1_HALF_N) revert HighS();
        signer = ecrecover(digest, v, r, s);
        if (signer == address(0)) revert BadSignature();
    }
}
