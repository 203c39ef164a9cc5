"""transformer_book: the package the book builds, chapter by chapter, and tests.

Its folders follow the book's parts; each public name is imported from the module that defines it:

- ``transformer_book.pieces``: Part I (attention, masks, embeddings, multi-head attention, ...)
- ``transformer_book.encoder_decoder``: Part II (the encoder-decoder, its training and decoding)
- ``transformer_book.bert`` and ``transformer_book.gpt``: Part III's model families
- ``transformer_book.data``: the loaders of the book's data packages
- ``transformer_book.common``: machinery every part shares (checks, checkpoints, plotting, ...)
"""

__version__ = "0.1.0"
