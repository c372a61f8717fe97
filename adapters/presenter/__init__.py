"""What a card *is*, for every platform: its state, rank, facts and actions (card.py), the verbs
and their component ids (actions.py), and one live batch fed by the core's events (live.py).
Platform folders only draw a card view and send it."""
