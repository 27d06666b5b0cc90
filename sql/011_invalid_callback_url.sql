-- 011_invalid_callback_url.sql — a callback URL found invalid at delivery is
-- a failed attempt (error class invalid_url), final: the request ends
-- delivery_failed instead of waiting as a dead letter (DESIGN §5).
ALTER TABLE chargegate.callback_delivery_attempt DROP CONSTRAINT callback_delivery_attempt_error_class_check;
ALTER TABLE chargegate.callback_delivery_attempt ADD CONSTRAINT callback_delivery_attempt_error_class_check
    CHECK (error_class IS NULL
           OR error_class ~ '^(dns|connect|tls|timeout|blocked_address|invalid_url|http_[0-9]{3})$');
