"""Part III, BERT: the encoder-only model, its pretrained weights, masked-language-model pretraining and
fine-tuning for classification."""
