// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title BaselineAuction
/// @notice The logic of the sealed-bid auction example (examples/contracts/sealed-bid-auction)
/// written as a plain on-chain contract, for `pose bench onchain`. On a public chain the bids
/// are not sealed (anyone reads them); the rules are otherwise the same: a bid is covered by
/// the bidder's deposited balance and held in escrow, a new bid replaces the bidder's earlier
/// one, at close the highest bid (the earliest among equal ones) goes to the seller and every
/// other bid goes back to its bidder, and anyone withdraws their balance.
contract BaselineAuction {
    /// @notice Most bidders, so that `close` stays within a block's gas.
    uint256 public constant BIDDERS_MAX = 200;

    address public immutable seller;
    uint256 public immutable reserve;
    uint64 public immutable endTime;

    mapping(address => uint256) public balanceOf;
    mapping(address => uint256) public bidOf;
    address[] public bidders;
    bool public closed;
    address public winner;
    uint256 public price;

    event Bid(address indexed bidder, uint256 amount);
    event Closed(address winner, uint256 price);

    error InsufficientBalance(uint256 available, uint256 needed);
    error AuctionEnded();
    error AuctionNotEnded();
    error AlreadyClosed();
    error TooManyBidders();
    error PaymentFailed();

    constructor(address seller_, uint256 reserve_, uint64 endTime_) {
        seller = seller_;
        reserve = reserve_;
        endTime = endTime_;
    }

    /// @notice Credits the sent ether to the sender's balance.
    function deposit() external payable {
        balanceOf[msg.sender] += msg.value;
    }

    /// @notice Bids `amount` from the sender's balance, replacing the sender's earlier bid.
    function bid(uint256 amount) external {
        if (block.timestamp >= endTime) revert AuctionEnded();
        uint256 earlier = bidOf[msg.sender];
        if (earlier == 0) {
            if (bidders.length >= BIDDERS_MAX) revert TooManyBidders();
            bidders.push(msg.sender);
        }
        uint256 have = balanceOf[msg.sender] + earlier;
        if (have < amount) revert InsufficientBalance(have, amount);
        balanceOf[msg.sender] = have - amount;
        bidOf[msg.sender] = amount;
        emit Bid(msg.sender, amount);
    }

    /// @notice Closes the auction at or after `endTime`: the highest bid reaching the reserve
    /// goes to the seller, every other bid back to its bidder.
    function close() external {
        if (block.timestamp < endTime) revert AuctionNotEnded();
        if (closed) revert AlreadyClosed();
        closed = true;
        address best;
        uint256 top;
        uint256 n = bidders.length;
        for (uint256 i = 0; i < n; i++) {
            address b = bidders[i];
            uint256 v = bidOf[b];
            if (v >= reserve && v > top) {
                top = v;
                best = b;
            }
        }
        for (uint256 i = 0; i < n; i++) {
            address b = bidders[i];
            uint256 v = bidOf[b];
            bidOf[b] = 0;
            if (b == best) {
                balanceOf[seller] += v;
            } else {
                balanceOf[b] += v;
            }
        }
        winner = best;
        price = top;
        emit Closed(best, top);
    }

    /// @notice Pays `amount` of the sender's balance out to the sender.
    function withdraw(uint256 amount) external {
        uint256 have = balanceOf[msg.sender];
        if (have < amount) revert InsufficientBalance(have, amount);
        unchecked {
            balanceOf[msg.sender] = have - amount;
        }
        (bool ok,) = msg.sender.call{value: amount}("");
        if (!ok) revert PaymentFailed();
    }
}
