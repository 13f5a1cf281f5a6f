"""Auth-server hooks: the endpoints Supabase Auth, Zitadel, authentik (and anything that can POST
a code) call to have pinrelay send their SMS codes (docs/auth-servers.md).

* :mod:`.supabase`: ``POST /v1/hooks/supabase/send-sms``, Supabase's Send SMS Hook, signed with
  Standard Webhooks (:mod:`.standard`), answered the way Supabase reads answers;
* :mod:`.generic`: ``POST /v1/hooks/generic/send-sms``, a code or a message text (:mod:`.shapes`:
  pinrelay's own shape, Zitadel's and authentik's), with an API key or a signature;
* :mod:`.sender`: what both do with it: the producer's send (validation, abuse limits), under
  the hook's own identity, with retries of the same code folded into one send.

Ory Kratos needs no endpoint: its courier posts to ``/v1/pins`` through ``ops/kratos/``.
"""
