// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title BaselineToken
/// @notice The logic of the token example (examples/contracts/token-escrow) written as a plain
/// on-chain contract, for `pose bench onchain`: every balance is public and every operation is
/// a transaction that pays gas. Users deposit ether into an internal balance, transfer it to
/// each other and withdraw it to their address.
contract BaselineToken {
    mapping(address => uint256) public balanceOf;

    event Transfer(address indexed from, address indexed to, uint256 amount);

    error InsufficientBalance(uint256 available, uint256 needed);
    error PaymentFailed();

    /// @notice Credits the sent ether to the sender's balance.
    function deposit() external payable {
        balanceOf[msg.sender] += msg.value;
        emit Transfer(address(0), msg.sender, msg.value);
    }

    /// @notice Moves `amount` of the sender's balance to `to`.
    function transfer(address to, uint256 amount) external {
        uint256 have = balanceOf[msg.sender];
        if (have < amount) revert InsufficientBalance(have, amount);
        unchecked {
            balanceOf[msg.sender] = have - amount;
        }
        balanceOf[to] += amount;
        emit Transfer(msg.sender, to, amount);
    }

    /// @notice Pays `amount` of the sender's balance out to the sender.
    function withdraw(uint256 amount) external {
        uint256 have = balanceOf[msg.sender];
        if (have < amount) revert InsufficientBalance(have, amount);
        unchecked {
            balanceOf[msg.sender] = have - amount;
        }
        emit Transfer(msg.sender, address(0), amount);
        (bool ok,) = msg.sender.call{value: amount}("");
        if (!ok) revert PaymentFailed();
    }
}
