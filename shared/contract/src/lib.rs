//! Contract test suites: one per port, written once and instantiated for
//! each adapter (SQLite and DynamoDB for the store, the master key file and
//! KMS for the key vault). Each function panics on a broken contract.
//!
//! Adapters instantiate every suite with [`store_contract_tests!`] and
//! [`key_vault_contract_tests!`], passing an expression that builds a fresh,
//! empty adapter.
// The store ports hand refused records back by value in `Err`: fine here.
#![allow(clippy::result_large_err)]

pub mod accounts;
pub mod delayed_writes;
pub mod delivery_faults;
pub mod fixtures;
pub mod isolation;
pub mod key_vault;
pub mod moto;
pub mod store;
pub mod verify_race;

/// Expands to one `#[tokio::test]` per store contract. `$make` is an async
/// expression evaluating to an `Arc<dyn Store>` over empty storage.
#[macro_export]
macro_rules! store_contract_tests {
    ($make:expr) => {
        $crate::store_contract_tests!(@each $make;
            first_client_is_admin_and_only_the_first,
            concurrent_first_clients_make_exactly_one_admin,
            client_email_is_unique,
            channels_and_templates_are_scoped_to_their_client,
            linked_channel_and_template_cannot_be_deleted,
            project_needs_its_clients_channel_and_template,
            project_public_key_is_unique,
            deleting_a_project_removes_its_end_users,
            start_verification_supersedes_after_cooldown,
            cooldown_does_not_apply_once_the_code_is_used_or_expired,
            destination_limit_refuses_atomically,
            a_start_refused_by_cooldown_counts_no_send,
            check_counts_every_comparison_of_code_and_device,
            check_approves_once_and_a_used_code_is_refused,
            concurrent_wrong_checks_use_up_the_cap_and_the_right_code_is_refused,
            concurrent_correct_codes_approve_once,
            a_superseded_code_is_never_approved,
            a_cancelled_code_is_expired_and_can_be_replaced_at_once,
            delivery_is_claimed_once_and_lease_expiry_allows_a_retry,
            delivery_claim_refused_for_superseded_or_expired_code,
            logs_filter_and_page_newest_first,
            paging_through_logs_returns_each_entry_once_in_order,
            receipts_only_move_a_delivery_forward,
            a_channels_receipts_secret_is_replaced_for_its_client_only,
            api_tokens_are_found_by_hash_and_scoped_to_their_client,
            a_delivery_fails_over_once_and_counts_a_send,
            a_project_is_relinked_with_its_links_reference_counts,
            a_project_deleted_during_a_relink_leaves_its_links_free,
        );
        $crate::store_contract_tests!(@each_in accounts; $make;
            a_self_sign_up_never_becomes_the_admin,
            account_tokens_are_single_use_and_expire,
            totp_steps_are_accepted_once_and_only_forward,
            backup_codes_are_replaced_only_if_unchanged,
            sessions_are_stored_touched_and_ended,
            attempts_are_counted_up_to_the_limit_even_concurrently,
            sign_up_confirm_enrol_and_sign_in,
            sign_up_does_not_tell_whether_an_address_has_an_account,
            the_right_password_is_refused_once_the_guesses_are_used_up,
            one_backup_code_signs_in_once_under_concurrency,
            one_totp_code_signs_in_once_under_concurrency,
            the_right_code_is_refused_once_the_second_factor_guesses_are_used_up,
            a_password_reset_ends_every_session,
            log_out_everywhere_ends_other_sessions,
            sessions_time_out_idle_absolute_and_between_the_steps,
            mail_requests_are_limited_per_address_and_per_ip,
            a_client_is_disabled_and_enabled_but_never_the_admin,
            account_mail_goes_to_the_stored_address_not_the_typed_one,
            a_password_reset_lifts_a_lock_out,
            an_ipv6_prefix_counts_as_one_address,
            a_lost_authenticator_is_unlinked_with_a_backup_code,
        );
        $crate::store_contract_tests!(@each_in verify_race; $make;
            a_right_guess_behind_concurrent_wrong_ones_is_refused,
            concurrent_guessing_wins_no_more_often_than_the_cap_allows,
        );
        $crate::store_contract_tests!(@each_in delivery_faults; $make;
            a_provider_that_never_answers_is_cut_off_and_the_code_is_sent_on_retry,
            a_failed_sent_write_never_sends_the_code_twice,
            a_sent_write_that_keeps_failing_still_ends_the_job,
        );
    };
    (@each $make:expr; $($name:ident),* $(,)?) => {
        $crate::store_contract_tests!(@each_in store; $make; $($name),*);
    };
    (@each_in $module:ident; $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let store = $make;
                $crate::$module::$name(store).await;
            }
        )*
    };
}

/// Expands to one `#[tokio::test]` per key-vault contract. `$make` is an
/// async expression evaluating to an `Arc<dyn KeyVault>`.
#[macro_export]
macro_rules! key_vault_contract_tests {
    ($make:expr) => {
        $crate::key_vault_contract_tests!(@each $make;
            data_key_round_trips_through_the_vault,
            data_key_only_unwraps_for_its_own_context,
            tampered_wrapped_key_is_rejected,
        );
    };
    (@each $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let vault = $make;
                $crate::key_vault::$name(vault).await;
            }
        )*
    };
}
