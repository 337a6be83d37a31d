"""The demo line: a guest on loopback that answers the agent and rings them, plus the
matching contacts for the embedded CRM, so a newcomer sees the whole flow in a minute."""

from app.demo.line import DemoLine
from app.demo.seed import GUEST_NAME, GUEST_NUMBER, demo_provisioning, seed_embedded

__all__ = ["GUEST_NAME", "GUEST_NUMBER", "DemoLine", "demo_provisioning", "seed_embedded"]
