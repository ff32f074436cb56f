// WordPiece and GPT-2 byte-level BPE tokenizers (in progress).
