// Ory Kratos courier -> pinrelay: the body of `POST /v1/pins` for one SMS that Kratos queued.
//
// Kratos's HTTP courier channel (courier/http_channel.go in ory/kratos) evaluates this file with
// one top-level argument, `ctx`, the JSON of its `httpDataModel`:
//
//   recipient        the phone number (E.164 with '+', as Kratos normalises `tel` identifiers)
//   template_type    verification_code_valid | login_code_valid | registration_code_valid |
//                    recovery_code_valid | verifiable_address_changed | authenticator_key_added
//   template_data    the template's model (courier/template/sms/*.go), with the code under a
//                    field that depends on the type, see `codeFields` below
//   message_type     "sms"
//   subject, body    Kratos's rendered text (pinrelay sends its own text, so they are unused)
//   request_headers  headers of the user's request (Kratos v26.2+), unused
//
// pinrelay sends PINs only. A message without a code (a notification such as
// verifiable_address_changed) fails here with a Jsonnet error naming its type, so nothing is
// posted; Kratos then records the dispatch as failed, retries it, and abandons it after
// `courier.message_retries` + 1 attempts. Send those notifications through another channel.
//
// Configure it with ops/kratos/courier.yml; docs/auth-servers.md has the facts and sources.
function(ctx)
  local has(o, k) = std.isObject(o) && std.objectHas(o, k) && o[k] != null;
  local type = if has(ctx, 'template_type') then ctx.template_type else '(none)';
  local data = if has(ctx, 'template_data') then ctx.template_data else {};

  // Where each SMS template type carries its code: the JSON names of the models'
  // fields in courier/template/sms/*.go. Kratos's docs call the types `verification_code`
  // and `login_code` and the field `VerificationCode`; the code and the wire use these.
  // RecoveryCodeValidModel (recovery_code.go) puts its RecoveryCode under
  // "verification_code"; "recovery_code" is read first in case a later Kratos renames it.
  local codeFields = {
    verification_code_valid: ['verification_code'],
    login_code_valid: ['login_code'],
    registration_code_valid: ['registration_code'],
    recovery_code_valid: ['recovery_code', 'verification_code'],
  };
  local nonEmpty(k) = has(data, k) && std.isString(data[k]) && data[k] != '';

  local fields =
    if has(ctx, 'message_type') && ctx.message_type != 'sms' then
      error 'pinrelay-sms.jsonnet: message_type "%s" is not an SMS; pinrelay sends SMS only' % ctx.message_type
    else if std.objectHas(codeFields, type) then codeFields[type]
    else error ('pinrelay-sms.jsonnet: template type "%s" carries no code; pinrelay sends PINs only '
                + '(send %s messages through another courier channel)') % [type, type];
  local found = [k for k in fields if nonEmpty(k)];
  local code =
    if std.length(found) > 0 then data[found[0]]
    else error 'pinrelay-sms.jsonnet: template type "%s" has no %s in its template_data'
               % [type, std.join(' or ', fields)];

  local recipient =
    if has(ctx, 'recipient') && std.isString(ctx.recipient) && ctx.recipient != '' then ctx.recipient
    else if nonEmpty('to') then data.to
    else error 'pinrelay-sms.jsonnet: the message has no recipient';

  // The identity's id as the send's client_ref (pinrelay keeps it on the record and passes it
  // to the provider), when it is a UUID: login, verification and recovery carry the identity,
  // registration carries only its traits (no id yet), so those sends go without one.
  local identity = if has(data, 'identity') then data.identity else {};
  local isUuid(s) = std.isString(s) && std.length(s) == 36
                    && std.all([std.member('0123456789abcdefABCDEF-', c) for c in std.stringChars(s)]);
  local clientRef = if has(identity, 'id') && isUuid(identity.id) then identity.id else null;

  {
    // pinrelay's API takes E.164 digits, the '+' optional; it is dropped here so the body
    // matches the documented form exactly. pinrelay validates the number (422 otherwise).
    to: std.lstripChars(recipient, '+'),
    pin: code,
  } + (if clientRef != null then { client_ref: clientRef } else {})
