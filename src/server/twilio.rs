//! What Twilio posts back: inbound messages and status callbacks, checked with
//! `X-Twilio-Signature`. (Being written.)
