"""Part II, the encoder-decoder: its layers and model, the translation data and its batches, training,
decoding (greedy, sampling, beam search) and evaluation, and the parity with torch.nn.Transformer."""
