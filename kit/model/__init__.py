"""Network parts of JointNLT and the one builder that assembles them."""
from kit.config import ModelConfig
from kit.model.jointnlt import Features, JointNLT, Prediction


def build_model(cfg: ModelConfig) -> JointNLT:
    """A JointNLT with random weights for `cfg`; load weights with `kit.weights.loading.load_model`."""
    return JointNLT(cfg)


__all__ = ["build_model", "JointNLT", "Features", "Prediction"]
