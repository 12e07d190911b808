"""Many models: one model per partition (store x item, well, franchise), trained, registered and served together."""
