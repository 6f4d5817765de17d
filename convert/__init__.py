"""Keras -> ONNX -> static INT8, with verification and the dmsd metadata contract."""
