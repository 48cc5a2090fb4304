//! Channels over Signal (DESIGN §5): commands, broadcast, hotline.
