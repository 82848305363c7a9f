-- =============================================================================
-- 0050 booking moves: 0044's guard let any status move through for a session that
-- never set loconomy.card_dispute (its value is then null, and `not null` is null,
-- which IF takes as false): the database owner, a job, a trusted function could
-- move a booking confirmed → disputed or back without the dispute functions. Same
-- function, with the flag read as false when unset. Caught by the state-machine
-- test (test/db/policies/scheduling.test.ts).
-- =============================================================================

create or replace function app.bookings_before_update() returns trigger
language plpgsql
set search_path = pg_catalog, public
as $$
declare
  dispute_move boolean := false;
begin
  if (new.listing_id, new.provider_id, new.customer_id, new.tenant_id, new.confirmation_code)
     is distinct from (old.listing_id, old.provider_id, old.customer_id, old.tenant_id, old.confirmation_code) then
    raise check_violation using message = 'a booking''s listing, parties, tenant and confirmation code cannot change';
  end if;
  if new.status is distinct from old.status then
    -- coalesce: the setting is null in a session that never set it, and `not null` is null,
    -- which an IF takes as false, so the check below would let any move through.
    dispute_move := coalesce(app.is_trusted() and current_setting('loconomy.card_dispute', true) = 'on'
      and (old.status::text, new.status::text) in (('confirmed', 'disputed'), ('disputed', 'confirmed'),
                                                   ('disputed', 'in_progress'), ('disputed', 'completed'),
                                                   ('disputed', 'no_show')), false);
    if not dispute_move and not app.booking_transition_allowed(old.status, new.status) then
      raise check_violation using
        message = format('a booking cannot move from %s to %s', old.status, new.status),
        hint = 'Allowed: pending→confirmed|declined|cancelled|expired, confirmed→in_progress|completed|cancelled|no_show, in_progress→completed|cancelled|disputed, completed→disputed|refunded, no_show→disputed, disputed→completed|refunded|cancelled, cancelled→refunded.';
    end if;
    if dispute_move and new.status::text <> 'disputed' then
      null;  -- back from a card dispute: the status's own timestamp is still the one it had
    else
      case new.status::text
        when 'confirmed' then new.confirmed_at := now();
        when 'in_progress' then new.started_at := now();
        when 'completed' then new.completed_at := now();
        when 'cancelled' then new.cancelled_at := now();
        when 'disputed' then new.disputed_at := now();
        when 'refunded' then new.refunded_at := now();
        else null;
      end case;
    end if;
  end if;
  if not app.is_trusted() then
    -- Clients may only edit their own side's notes (column grants do the rest).
    if new.customer_notes is distinct from old.customer_notes and old.customer_id <> app.current_user_id() then
      raise insufficient_privilege using message = 'only the customer can edit customer_notes';
    end if;
    if new.provider_notes is distinct from old.provider_notes and old.provider_id <> app.current_user_id() then
      raise insufficient_privilege using message = 'only the provider can edit provider_notes';
    end if;
  end if;
  return new;
end $$;
