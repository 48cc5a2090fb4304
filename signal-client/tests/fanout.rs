#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]
//! The hand-written message-list JSON is exactly what signal-api's serde type reads.

use libsignal_protocol::DeviceId;
use signal_client::cipher::OutgoingMessage;
use signal_client::fanout::message_list_json;

#[test]
fn message_list_json_parses_as_incoming_message_list() {
    for n in 0..4usize {
        let msgs: Vec<OutgoingMessage> = (0..n)
            .map(|i| OutgoingMessage {
                envelope_type: [1, 3, 6][i % 3],
                destination_device_id: DeviceId::try_from(i as u8 + 1).unwrap(),
                destination_registration_id: 1000 + i as u32,
                content: (0..(i * 37 + 1)).map(|b| b as u8).collect(),
            })
            .collect();
        let body = message_list_json(msgs.clone(), 1_700_000_000_123);
        let list: signal_api::IncomingMessageList = signal_api::parse_json(&body).unwrap();
        assert_eq!(list.timestamp, 1_700_000_000_123);
        assert!(!list.online);
        assert!(list.urgent);
        assert_eq!(list.messages.len(), n);
        for (m, o) in list.messages.iter().zip(&msgs) {
            assert_eq!(m.r#type as i32, o.envelope_type);
            assert_eq!(m.destination_device_id, u32::from(o.destination_device_id));
            assert_eq!(m.destination_registration_id, o.destination_registration_id);
            assert_eq!(m.content, o.content);
        }
        // And byte-identical to the serde rendering.
        let serde = signal_api::to_json(&signal_api::IncomingMessageList {
            messages: msgs
                .iter()
                .map(|o| signal_api::IncomingMessage {
                    r#type: o.envelope_type as u32,
                    destination_device_id: u32::from(o.destination_device_id),
                    destination_registration_id: o.destination_registration_id,
                    content: o.content.clone(),
                })
                .collect(),
            online: false,
            urgent: true,
            timestamp: 1_700_000_000_123,
        });
        assert_eq!(body, serde);
    }
}
