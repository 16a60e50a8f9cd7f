"""Signed commands to actuators, and the fail-safe contract actuators keep.

The platform signs (`signer`); the actuator verifies signature, target, expiry
and sequence before it acts (`verifier`); when it loses the platform it falls
back to a safe local mode within a bounded time (`failsafe`).
"""
