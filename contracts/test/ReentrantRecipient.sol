// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title ReentrantRecipient (test helper, never deployed outside tests)
/// @notice A payout recipient that, while being paid, calls the manager again with calldata
/// set beforehand, and records whether that inner call succeeded and what it returned. Used to
/// show that PoseManager's payouts are safe against reentrancy.
contract ReentrantRecipient {
    address public immutable manager;
    bytes public reentryCall;
    bool public attempted;
    bool public reentered;
    bytes public reentryResult;

    error CallFailed(bytes result);

    constructor(address manager_) {
        manager = manager_;
    }

    /// @notice Sets the calldata sent to the manager from `receive`.
    function setReentryCall(bytes calldata data) external {
        reentryCall = data;
    }

    /// @notice Calls the manager as this contract (e.g. `claim()`).
    function callManager(bytes calldata data) external {
        (bool ok, bytes memory result) = manager.call(data);
        if (!ok) revert CallFailed(result);
    }

    receive() external payable {
        if (attempted) return;
        attempted = true;
        (bool ok, bytes memory result) = manager.call(reentryCall);
        reentered = ok;
        reentryResult = result;
    }
}
