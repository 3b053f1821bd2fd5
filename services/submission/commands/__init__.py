"""Submission's use cases: the rules, the transaction and the outbox call of each.

- :mod:`.organisation`: what a Front organisation does over the API. It submits and attaches
  (submission decides those), and asks for amendments, withdrawals and decisions on extensions,
  which tracking decides: they are recorded here as pending requests and sent on as request
  events, in one transaction.
- :mod:`.decisions`: what tracking decided and reported, applied to submission's view of each
  critique and to the organisation's pending requests, in the consumer's transaction.
"""
