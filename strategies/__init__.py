"""Playbooks, their targets and the risk rules, sizing and costs they run under:

    from strategies import Playbook, Target
"""

from strategies.playbook import Playbook
from strategies.risk import Costs, PortfolioStop, RiskConfig, Sizing, StopRule, TakeProfit
from strategies.targets import HedgePlan, SessionView, Target

__all__ = ["Playbook", "Target", "HedgePlan", "SessionView", "RiskConfig", "StopRule", "TakeProfit",
           "PortfolioStop", "Sizing", "Costs"]
