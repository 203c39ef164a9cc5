"""Part I, the pieces: tokenization, embeddings and positions, attention and its masks, multi-head
attention, the feed-forward layer, dropout and the residual sublayer; and chapter 1's recurrent baseline."""
