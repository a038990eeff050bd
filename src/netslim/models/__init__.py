"""Models: the zoo (the seed's models and friends) and pickle-free save/load."""

from netslim.models.arch import Architecture, architecture_of
from netslim.models.front import as_model, load_any, load_hf
from netslim.models.hf import PixelClassifier, TokenIdsClassifier, TokenIdsEncoder
from netslim.models.inputs import InputSpec, input_spec
from netslim.models.keras_in import from_keras, to_keras  # keras itself is imported only when called
from netslim.models.onnx_in import from_onnx
from netslim.models.persist import load_model, save_model
from netslim.models.zoo import ZooEntry, build_model, list_models, make_activation, zoo_entry

__all__ = [
    "Architecture",
    "InputSpec",
    "PixelClassifier",
    "TokenIdsClassifier",
    "TokenIdsEncoder",
    "ZooEntry",
    "architecture_of",
    "as_model",
    "build_model",
    "from_keras",
    "from_onnx",
    "input_spec",
    "list_models",
    "load_any",
    "load_hf",
    "load_model",
    "make_activation",
    "save_model",
    "to_keras",
    "zoo_entry",
]
