// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

/// @title GLISK Season 0 (test and local-demo contract)
/// @notice The subset of the deployed GLISK contract that the backend relies on (docs: domain.md section 3):
/// batch mint with a prompt author, BatchMinted, keeper reveal with TokensRevealed, and the views the gap scan
/// reads. Pricing is a flat settable price; the real contract's rewards and royalties are deliberately absent.
contract GliskS0 is ERC721, AccessControl {
    bytes32 public constant KEEPER_ROLE = keccak256("KEEPER_ROLE");
    uint256 public constant MAX_BATCH_SIZE = 50;

    event BatchMinted(
        address indexed minter,
        address indexed promptAuthor,
        uint256 indexed startTokenId,
        uint256 quantity,
        uint256 totalPaid
    );
    event TokensRevealed(uint256[] tokenIds);
    event MintPriceUpdated(uint256 mintPrice);
    event MintingEnabledUpdated(bool enabled);

    error InvalidQuantity();
    error ExceedsMaxBatchSize();
    error InsufficientPayment();
    error MintingDisabled();
    error LengthMismatch();
    error AlreadyRevealed(uint256 tokenId);

    uint256 public mintPrice;
    bool public mintingEnabled = true;
    string public placeholderURI;

    // Ids start at 1 so that 0 never names a token (the backend treats ids as positive).
    uint256 private _nextTokenId = 1;
    mapping(uint256 tokenId => address author) private _promptAuthors;
    mapping(uint256 tokenId => bool) private _revealed;
    mapping(uint256 tokenId => string uri) private _revealedURIs;

    constructor(address admin, string memory placeholderURI_, uint256 mintPrice_) ERC721("GLISK Season 0", "GLISK0") {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        placeholderURI = placeholderURI_;
        mintPrice = mintPrice_;
    }

    function mint(address promptAuthor, uint256 quantity) external payable {
        if (!mintingEnabled) revert MintingDisabled();
        if (quantity == 0) revert InvalidQuantity();
        if (quantity > MAX_BATCH_SIZE) revert ExceedsMaxBatchSize();
        if (msg.value < mintPrice * quantity) revert InsufficientPayment();

        uint256 startTokenId = _nextTokenId;
        _nextTokenId = startTokenId + quantity;
        for (uint256 i = 0; i < quantity; i++) {
            uint256 tokenId = startTokenId + i;
            _promptAuthors[tokenId] = promptAuthor;
            // _mint rather than _safeMint: a contract minter without onERC721Received must not block the batch.
            _mint(msg.sender, tokenId);
        }
        emit BatchMinted(msg.sender, promptAuthor, startTokenId, quantity, msg.value);
    }

    /// @dev Does not check that the ids exist, like the deployed contract; the backend must only reveal minted ids.
    function revealTokens(uint256[] calldata tokenIds, string[] calldata uris) external {
        if (!hasRole(KEEPER_ROLE, msg.sender) && !hasRole(DEFAULT_ADMIN_ROLE, msg.sender)) {
            revert AccessControlUnauthorizedAccount(msg.sender, KEEPER_ROLE);
        }
        if (tokenIds.length != uris.length) revert LengthMismatch();
        for (uint256 i = 0; i < tokenIds.length; i++) {
            uint256 tokenId = tokenIds[i];
            if (_revealed[tokenId]) revert AlreadyRevealed(tokenId);
            _revealed[tokenId] = true;
            _revealedURIs[tokenId] = uris[i];
        }
        emit TokensRevealed(tokenIds);
    }

    function setMintPrice(uint256 newMintPrice) external onlyRole(DEFAULT_ADMIN_ROLE) {
        mintPrice = newMintPrice;
        emit MintPriceUpdated(newMintPrice);
    }

    function setMintingEnabled(bool enabled) external onlyRole(DEFAULT_ADMIN_ROLE) {
        mintingEnabled = enabled;
        emit MintingEnabledUpdated(enabled);
    }

    function nextTokenId() external view returns (uint256) {
        return _nextTokenId;
    }

    function tokenPromptAuthor(uint256 tokenId) external view returns (address) {
        return _promptAuthors[tokenId];
    }

    function isRevealed(uint256 tokenId) external view returns (bool) {
        return _revealed[tokenId];
    }

    function tokenURI(uint256 tokenId) public view override returns (string memory) {
        _requireOwned(tokenId);
        return _revealed[tokenId] ? _revealedURIs[tokenId] : placeholderURI;
    }

    function supportsInterface(bytes4 interfaceId) public view override(ERC721, AccessControl) returns (bool) {
        return super.supportsInterface(interfaceId);
    }
}
