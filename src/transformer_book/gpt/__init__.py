"""Part III, GPT: the decoder-only model, generation with a key/value cache, training, GPT-2's tokenizer
and pretrained weights."""
