"""Keras training for dmsd's models. Needs the `train` extra; the runtime (dmsd/) never imports this."""
