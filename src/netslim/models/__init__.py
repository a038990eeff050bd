"""Models: the zoo (the seed's models and friends) and pickle-free save/load."""

from netslim.models.arch import Architecture, architecture_of
from netslim.models.hf import TokenIdsClassifier
from netslim.models.persist import load_any, load_model, save_model
from netslim.models.zoo import ZooEntry, build_model, list_models, make_activation, zoo_entry

__all__ = [
    "Architecture",
    "TokenIdsClassifier",
    "ZooEntry",
    "architecture_of",
    "build_model",
    "list_models",
    "load_any",
    "load_model",
    "make_activation",
    "save_model",
    "zoo_entry",
]
