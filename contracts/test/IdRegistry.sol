// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title The part of Farcaster's IdRegistry the backend reads (tests only)
/// @notice Same `custodyOf(uint256)` and `idOf(address)` views as the IdRegistry on OP Mainnet; registration is a
/// plain owner-only call here instead of the real registration flow.
contract IdRegistry {
    address public immutable owner;
    mapping(uint256 => address) public custodyOf;
    mapping(address => uint256) public idOf;

    error Unauthorized();
    error HasId();

    constructor() {
        owner = msg.sender;
    }

    function register(uint256 fid, address custody) external {
        if (msg.sender != owner) revert Unauthorized();
        if (idOf[custody] != 0 || custodyOf[fid] != address(0)) revert HasId();
        custodyOf[fid] = custody;
        idOf[custody] = fid;
    }
}
