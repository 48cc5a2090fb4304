//! Linked devices (SPEC.md §8; signal-sim SPEC §7.12): the primary issues a link code, a
//! new device of the same account links with it, and the primary lists and removes
//! devices. Sending needs nothing new: the service's 409/410 answers tell every sender
//! about added and removed devices (SPEC.md §4).

use hyper::{Method, StatusCode};
use libsignal_protocol::{Aci, DeviceId, Timestamp};
use signal_api::{json, to_json};

use super::{new_device_upload, now_ms, parse, status_err, ServiceConfig, SignalClient};
use crate::account::Account;
use crate::error::{Error, Result};
use crate::keys;

impl SignalClient {
    /// A single-use code (valid for minutes) with which one new device may link to this
    /// account (`GET /v1/devices/provisioning/code`). Only the primary device may ask.
    /// The caller hands it to the new device with the account's keys (SPEC.md §8).
    pub async fn link_code(&self) -> Result<zeroize::Zeroizing<String>> {
        const OP: &str = "link code";
        let r = self
            .authed(Method::GET, "/v1/devices/provisioning/code", None)
            .await?;
        if !r.status.is_success() {
            return Err(status_err(OP, &r));
        }
        let c: json::LinkDeviceVerificationCode = parse(OP, &r)?;
        Ok(zeroize::Zeroizing::new(c.verification_code))
    }

    /// Links a new device to `primary`'s account with `code` from
    /// [`SignalClient::link_code`] (`PUT /v1/devices/link`): the device shares the
    /// account's identity ([`Account::for_linked_device`]), has its own password,
    /// registration ids, signed and last-resort keys, and uploads `one_time_keys` EC and
    /// Kyber one-time prekeys as itself. Returns its client, with the assigned device id.
    pub async fn link(
        config: &ServiceConfig,
        primary: &Account,
        code: &str,
        one_time_keys: u32,
    ) -> Result<SignalClient> {
        const OP: &str = "link device";
        let mut rng = rand::rng();
        let mut account = Account::for_linked_device(primary, &mut rng)?;
        let now = Timestamp::from_epoch_millis(now_ms());
        keys::install_initial_keys(&mut account.store, now, &mut rng)?;
        // As at registration (PNI keys only satisfy the service).
        let (account_attributes, [aci_spk, pni_spk, aci_kyber, pni_kyber]) =
            new_device_upload(&account, false, now)?;
        let req = json::LinkDeviceRequest {
            verification_code: code.to_owned(),
            account_attributes,
            aci_signed_pre_key: aci_spk,
            pni_signed_pre_key: pni_spk,
            aci_pq_last_resort_pre_key: aci_kyber,
            pni_pq_last_resort_pre_key: pni_kyber,
        };
        let body = zeroize::Zeroizing::new(to_json(&req));
        let mut client = SignalClient::new(config, account);
        let auth = zeroize::Zeroizing::new(client.account.credentials.number_auth());
        let r = client
            .call(
                Method::PUT,
                "/v1/devices/link",
                Some(&auth),
                Some(body.to_vec()),
            )
            .await?;
        if !r.status.is_success() {
            return Err(status_err(OP, &r));
        }
        let resp: json::LinkDeviceResponse = parse(OP, &r)?;
        if Aci::from(resp.uuid) != client.account.credentials.aci {
            return Err(Error::BadResponse { operation: OP });
        }
        client.account.credentials.device_id = u8::try_from(resp.device_id)
            .ok()
            .and_then(|d| DeviceId::try_from(d).ok())
            .ok_or(Error::BadResponse { operation: OP })?;
        client.upload_prekeys(one_time_keys, one_time_keys).await?;
        Ok(client)
    }

    /// The account's device ids (`GET /v1/devices`), ascending.
    pub async fn devices(&self) -> Result<Vec<DeviceId>> {
        const OP: &str = "list devices";
        let r = self.authed(Method::GET, "/v1/devices", None).await?;
        if !r.status.is_success() {
            return Err(status_err(OP, &r));
        }
        let list: json::DeviceInfoList = parse(OP, &r)?;
        let mut ids = list
            .devices
            .iter()
            .map(|d| {
                u8::try_from(d.id)
                    .ok()
                    .and_then(|d| DeviceId::try_from(d).ok())
                    .ok_or(Error::BadResponse { operation: OP })
            })
            .collect::<Result<Vec<_>>>()?;
        ids.sort_unstable();
        Ok(ids)
    }

    /// Removes (unlinks) one of the account's other devices
    /// (`DELETE /v1/devices/{id}`, primary only). Removing a device that is already gone
    /// succeeds.
    pub async fn remove_device(&self, device: DeviceId) -> Result<()> {
        let r = self
            .authed(
                Method::DELETE,
                &format!("/v1/devices/{}", u8::from(device)),
                None,
            )
            .await?;
        if r.status == StatusCode::NO_CONTENT || r.status.is_success() {
            Ok(())
        } else {
            Err(status_err("remove device", &r))
        }
    }
}
