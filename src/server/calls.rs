//! The end-of-call reports of AI calling providers (Vapi, Retell, Bland, and herald's own
//! generic format), each checked with its own signature scheme and read into a `CallReport`.
//! (Being written.)
