// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title RefusingRecipient (test helper, never deployed outside tests)
/// @notice A payout recipient that refuses coins while `refusing` is set, and can call the
/// manager as itself (e.g. `claim()` once it accepts coins again).
contract RefusingRecipient {
    address public immutable manager;
    bool public refusing = true;

    error Refused();
    error CallFailed(bytes result);

    constructor(address manager_) {
        manager = manager_;
    }

    /// @notice Switches between refusing and accepting coins.
    function setRefusing(bool refusing_) external {
        refusing = refusing_;
    }

    /// @notice Calls the manager as this contract.
    function callManager(bytes calldata data) external {
        (bool ok, bytes memory result) = manager.call(data);
        if (!ok) revert CallFailed(result);
    }

    receive() external payable {
        if (refusing) revert Refused();
    }
}
