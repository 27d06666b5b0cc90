-- Run by chargegatectl migrate after the migrations, functions and views:
-- messages an earlier version stranded reach their subscriptions.
SELECT * FROM chargegate.requeue_stranded_messages();
