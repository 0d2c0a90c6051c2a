"""Models: training, calibration, thresholds, artifacts and registry, scoring, explanations.

    trainer = Trainer(TrainConfig(seed=7)).fit(features, events, spec, catalogue=cat.to_dict())
    save_model(trainer.model_, Path("model"))
    model = load_model(Path("model"))
    probabilities = model.score_many(features)      # calibrated P(fraud), row order
    decisions = model.assess_many(features)         # + risk_score, risk_tier, action

LightGBM is imported only when a booster is trained or loaded.
"""

from __future__ import annotations

from frisk.models.artifact import load_model, save_model
from frisk.models.calibration import Calibrator
from frisk.models.dataset import FeatureSpec
from frisk.models.encoding import CategoryEncoder
from frisk.models.scoring import FeatureValue, FraudModel
from frisk.models.thresholds import Action, RiskTier, Thresholds, fit_thresholds
from frisk.models.train import TrainConfig, Trainer

__all__ = [
    "Action",
    "Calibrator",
    "CategoryEncoder",
    "FeatureSpec",
    "FeatureValue",
    "FraudModel",
    "RiskTier",
    "Thresholds",
    "TrainConfig",
    "Trainer",
    "fit_thresholds",
    "load_model",
    "save_model",
]
