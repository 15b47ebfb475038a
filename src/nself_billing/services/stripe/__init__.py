"""The use cases on Stripe: Stripe is the truth, our tables its mirror (see docs/STRIPE.md).

``billing`` (the Stripe calls and the mirror refresh), ``subscriptions`` and ``engines`` (the
Stripe engine of each area, chosen once in bootstrap.py), ``webhook_events`` (received events),
``usage_outbox`` (usage to the Billing Meters).
"""
