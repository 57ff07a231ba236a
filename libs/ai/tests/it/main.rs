mod chat;
mod embed;
