// Fine-tuning: data, training loop, checkpoints and logs (being written).
