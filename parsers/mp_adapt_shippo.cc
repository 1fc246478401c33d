/*
 * Shippo `track_updated` webhooks (FORMATS.md 4; docs/adapters.md
 * "Shippo").
 *
 * Paths: `data`: `carrier`, `tracking_number`, `eta`, `tracking_status`
 * (the latest status: the payload time, and the only checkpoint when the
 * history is empty), `tracking_history[]` {`object_id` (the event id),
 * `status`, `substatus.code`, `status_details`, `status_date`,
 * `location` {city, state, zip, country}}.
 */

#include "mp_adapt_util.h"

namespace mp_adapt {

namespace {

using util::got;

enum : uint8_t {
    /* A substatus that says nothing the status does not. */
    SHIPPO_GENERIC = 1,
};

/* `status` [D]. */
const code shippo_statuses[] = {
    {"UNKNOWN", MP_MILESTONE_UNKNOWN, MP_REASON_NONE, 0, 0},
    {"PRE_TRANSIT", MP_MILESTONE_LABEL_CREATED, MP_REASON_NONE, 0, 0},
    {"TRANSIT", MP_MILESTONE_IN_TRANSIT, MP_REASON_NONE, 0, 0},
    {"DELIVERED", MP_MILESTONE_DELIVERED, MP_REASON_NONE, 0, 0},
    {"RETURNED", MP_MILESTONE_RETURN_TO_SENDER, MP_REASON_NONE, 0, 0},
    {"FAILURE", MP_MILESTONE_EXCEPTION, MP_REASON_OTHER, 0, 0},
};

/* `substatus.code` [D], all 27. */
const code shippo_substatuses[] = {
    {"information_received", MP_MILESTONE_LABEL_CREATED, MP_REASON_NONE, 0, 0},
    {"address_issue", MP_MILESTONE_EXCEPTION, MP_REASON_ADDRESS, 0, 0},
    {"contact_carrier", MP_MILESTONE_EXCEPTION, MP_REASON_OTHER, 0, 0},
    {"delayed", MP_MILESTONE_EXCEPTION, MP_REASON_DELAY, 0, 0},
    {"delivery_attempted", MP_MILESTONE_DELIVERY_ATTEMPTED, MP_REASON_NONE, 0, 0},
    {"delivery_rescheduled", MP_MILESTONE_IN_TRANSIT, MP_REASON_NONE, 0, 0},
    {"delivery_scheduled", MP_MILESTONE_IN_TRANSIT, MP_REASON_NONE, 0, 0},
    {"location_inaccessible", MP_MILESTONE_DELIVERY_ATTEMPTED, MP_REASON_ADDRESS, 0, 0},
    {"notice_left", MP_MILESTONE_DELIVERY_ATTEMPTED, MP_REASON_NONE, 0, 0},
    {"out_for_delivery", MP_MILESTONE_OUT_FOR_DELIVERY, MP_REASON_NONE, 0, 0},
    {"package_accepted", MP_MILESTONE_PICKED_UP, MP_REASON_NONE, 0, 0},
    {"package_arrived", MP_MILESTONE_IN_TRANSIT, MP_REASON_NONE, 0, 0},
    {"package_damaged", MP_MILESTONE_DAMAGED, MP_REASON_NONE, MP_EVENT_FLAG_DAMAGED, 0},
    {"package_departed", MP_MILESTONE_IN_TRANSIT, MP_REASON_NONE, 0, 0},
    {"package_forwarded", MP_MILESTONE_IN_TRANSIT, MP_REASON_NONE, 0, 0},
    {"package_held", MP_MILESTONE_EXCEPTION, MP_REASON_HELD, 0, 0},
    {"package_processed", MP_MILESTONE_IN_TRANSIT, MP_REASON_NONE, 0, 0},
    {"package_processing", MP_MILESTONE_IN_TRANSIT, MP_REASON_NONE, 0, 0},
    {"pickup_available", MP_MILESTONE_AVAILABLE_FOR_PICKUP, MP_REASON_NONE, 0, 0},
    {"reschedule_delivery", MP_MILESTONE_DELIVERY_ATTEMPTED, MP_REASON_NONE, 0, 0},
    {"delivered", MP_MILESTONE_DELIVERED, MP_REASON_NONE, 0, 0},
    {"return_to_sender", MP_MILESTONE_RETURN_TO_SENDER, MP_REASON_NONE, 0, 0},
    {"package_unclaimed", MP_MILESTONE_EXCEPTION, MP_REASON_NOT_COLLECTED, 0, 0},
    {"package_undeliverable", MP_MILESTONE_EXCEPTION, MP_REASON_UNDELIVERABLE, 0, 0},
    {"package_disposed", MP_MILESTONE_LOST, MP_REASON_DISPOSED, 0, 0},
    {"package_lost", MP_MILESTONE_LOST, MP_REASON_NONE, 0, 0},
    {"other", MP_MILESTONE_UNKNOWN, MP_REASON_NONE, 0, SHIPPO_GENERIC},
};

util::mapping shippo_map(run &r, std::string_view status, std::string_view substatus)
{
    const code *by_status = status.empty() ? nullptr : lookup(shippo_statuses, status);
    const code *by_sub = substatus.empty() ? nullptr : lookup(shippo_substatuses, substatus);
    if (by_status == nullptr && !status.empty())
        r.unmapped(status);
    if (by_sub == nullptr && !substatus.empty())
        r.unmapped(substatus);
    if (by_sub != nullptr && (by_sub->special != SHIPPO_GENERIC || by_status == nullptr))
        return util::mapped(by_sub);
    if (by_status != nullptr)
        return util::mapped(by_status);
    return util::mapping{MP_MILESTONE_UNKNOWN, MP_REASON_NONE, 0};
}

/* A tracking status (history element or the latest), read whole before it is built. */
struct shippo_status {
    util::checkpoint point;
    std::string_view object_updated, object_created;
    got state = got::absent;
};

simdjson::error_code shippo_read_status(od::value &value, run &r, shippo_status *status)
{
    util::checkpoint &point = status->point;
    return util::object(value, r, &status->state, [&](std::string_view key, od::value &field) {
        got read;
        std::string_view *target = nullptr;
        if (key == "substatus")
            return util::object(field, r, &read, [&](std::string_view inner, od::value &v) {
                if (inner != "code")
                    return util::ignored;
                got code_read;
                simdjson::error_code e = util::text(v, r, &point.substatus, &code_read);
                point.note(code_read, "substatus.code");
                return e;
            });
        if (key == "location")
            return util::object(field, r, &read, [&](std::string_view inner, od::value &v) {
                std::string_view *part = nullptr;
                if (inner == "city")
                    part = &point.city;
                else if (inner == "state")
                    part = &point.region;
                else if (inner == "zip")
                    part = &point.postal_code;
                else if (inner == "country")
                    part = &point.country;
                if (part == nullptr)
                    return util::ignored;
                got part_read;
                simdjson::error_code e = util::text(v, r, part, &part_read);
                point.note(part_read, "location");
                return e;
            });
        if (key == "object_id")
            target = &point.event_id;
        else if (key == "status")
            target = &point.status;
        else if (key == "status_details")
            target = &point.description;
        else if (key == "status_date")
            target = &point.time;
        else if (key == "object_updated")
            target = &status->object_updated;
        else if (key == "object_created")
            target = &status->object_created;
        if (target == nullptr)
            return util::ignored;
        simdjson::error_code e = util::text(field, r, target, &read);
        point.note(read, "tracking_history[]");
        return e;
    });
}

/* Reports one status as a checkpoint (or its reject). */
simdjson::error_code shippo_checkpoint(run &r, const shippo_status &status, uint32_t index)
{
    mp_event *event = r.begin(index);
    if (event == nullptr)
        return simdjson::CAPACITY;
    if (status.state != got::present) {
        r.reject(event, MP_REJECT_NOT_AN_EVENT, "tracking_history[%u] is not an object",
                 (unsigned)index);
        return simdjson::SUCCESS;
    }
    instant when;
    /* Test mode writes no offset: Shippo's times are UTC (FORMATS.md 4), whatever the country. */
    if (!util::checkpoint_time(r, event, status.point, "status_date", 0, &when))
        return simdjson::SUCCESS;
    if (status.point.wrong_field == nullptr) {
        instant plain;
        if (parse_time(status.point.time, 0, &plain))
            when = plain;
    }
    util::mapping map = shippo_map(r, status.point.status, status.point.substatus);
    if (util::build(r, event, status.point, map, when))
        r.end(event, when.utc_ms);
    return simdjson::SUCCESS;
}

struct shippo_payload {
    got data = got::absent;
    std::string_view carrier, tracking_number, eta;
    shippo_status latest;
    uint32_t history_count = 0;
};

simdjson::error_code shippo_data(od::value &value, run &r, shippo_payload *payload)
{
    return util::object(value, r, &payload->data, [&](std::string_view key, od::value &field) {
        got read;
        std::string_view *target = nullptr;
        if (key == "tracking_history") {
            simdjson::error_code error =
                util::array(field, r, &read, [&](od::value &element, uint32_t index) {
                    payload->history_count = index + 1;
                    shippo_status status;
                    simdjson::error_code e = shippo_read_status(element, r, &status);
                    return e ? e : shippo_checkpoint(r, status, index);
                });
            return error ? error : read == got::wrong ? simdjson::INCORRECT_TYPE : error;
        }
        if (key == "tracking_status")
            return shippo_read_status(field, r, &payload->latest);
        if (key == "carrier")
            target = &payload->carrier;
        else if (key == "tracking_number")
            target = &payload->tracking_number;
        else if (key == "eta")
            target = &payload->eta;
        if (target == nullptr)
            return util::ignored;
        return util::text(field, r, target, &read);
    });
}

/* The facts event: the estimate, at the latest status's time. */
void shippo_facts(run &r, const shippo_payload &payload)
{
    if (payload.eta.empty())
        return;
    instant when;
    const util::checkpoint &latest = payload.latest.point;
    if (!parse_time(latest.time, 0, &when) && !parse_time(payload.latest.object_updated, 0, &when) &&
        !parse_time(payload.latest.object_created, 0, &when))
        return; /* no time to order these facts by: they cannot be applied safely */
    mp_event *event = util::facts_begin(r, payload.history_count + 1, when);
    if (event == nullptr)
        return;
    if (!util::fact_estimate(event, payload.eta)) {
        r.reject(event, MP_REJECT_BAD_TIME, "data.eta is not a time");
        return;
    }
    r.end(event, when.utc_ms);
}

} // namespace

int shippo(od::document &document, run &r)
{
    od::object root;
    simdjson::error_code error = document.get_object().get(root);
    if (error)
        return r.fail_json(error);
    shippo_payload payload;
    error = util::members(root, r, [&](std::string_view key, od::value &field) {
        if (key == "data")
            return shippo_data(field, r, &payload);
        return util::ignored;
    });
    if (error == simdjson::CAPACITY)
        return MP_ETOOBIG;
    if (error == simdjson::INCORRECT_TYPE && payload.data == got::present)
        return r.fail("data.tracking_history is not an array");
    if (error)
        return r.fail_json(error);
    if (payload.data != got::present)
        return r.fail("the body is not a Shippo webhook (no \"data\" Track object)");
    /* The latest status is a checkpoint of its own only when there is no history. */
    if (payload.history_count == 0 && payload.latest.state == got::present) {
        error = shippo_checkpoint(r, payload.latest, 0);
        if (error == simdjson::CAPACITY)
            return MP_ETOOBIG;
    }
    shippo_facts(r, payload);
    r.shipment(payload.carrier, payload.tracking_number);
    return 0;
}

} // namespace mp_adapt
