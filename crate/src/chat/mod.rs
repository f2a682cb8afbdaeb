//! Conversations for generative models: a message (a role and its text) and the model's chat
//! template that turns a conversation into the text the model reads (`template.rs`).

pub mod template;

pub use template::ChatTemplate;

use serde::{Deserialize, Serialize};

/// One turn: `system`, `user` or `assistant` (templates may know other roles), and its text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Message {
    pub fn new(role: &str, content: &str) -> Self {
        Message { role: role.to_string(), content: content.to_string() }
    }
}
