"""Frontend stage: a model file -> a framework-free float `Graph`.

    graph = load("model.keras")                  # .keras / .h5, .tflite, .onnx, SavedModel dir
    graph, keras_model = load_with_model(path)   # the Keras model too (fine-tuning, Fisher)

Only this stage (and fine-tuning) imports TensorFlow/Keras, inside functions.
"""
from tinycompress.frontend.keras import from_keras
from tinycompress.frontend.loader import as_given, load, load_with_model, recalibrated

__all__ = ["load", "load_with_model", "from_keras", "recalibrated", "as_given"]
