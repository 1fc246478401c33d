/*
 * EasyPost `tracker.updated` / `tracker.created` Events (FORMATS.md 2;
 * docs/adapters.md "EasyPost").
 *
 * Paths: `id` (delivery id), `description`, `updated_at`, `result` (the
 * Tracker): `tracking_code`, `carrier`, `updated_at`, `signed_by`,
 * `weight` (ounces), `est_delivery_date`, `carrier_detail
 * .est_delivery_date_local`, `fees[]`, `is_return`, and
 * `tracking_details[]` {`datetime`, `status`, `status_detail`,
 * `carrier_code`, `message`/`description`, `tracking_location` {city,
 * state, country, zip}}.
 */

#include "mp_adapt_util.h"

namespace mp_adapt {

namespace {

using util::got;

enum : uint8_t {
    /* A status_detail that says nothing the status does not: the status decides. */
    EASYPOST_GENERIC = 1,
};

/* `status` [D], with `canceled` as some third-party code spells it. */
const code easypost_statuses[] = {
    {"unknown", MP_MILESTONE_UNKNOWN, MP_REASON_NONE, 0, 0},
    {"error", MP_MILESTONE_UNKNOWN, MP_REASON_NONE, 0, 0},
    {"pre_transit", MP_MILESTONE_LABEL_CREATED, MP_REASON_NONE, 0, 0},
    {"in_transit", MP_MILESTONE_IN_TRANSIT, MP_REASON_NONE, 0, 0},
    {"out_for_delivery", MP_MILESTONE_OUT_FOR_DELIVERY, MP_REASON_NONE, 0, 0},
    {"delivered", MP_MILESTONE_DELIVERED, MP_REASON_NONE, 0, 0},
    {"available_for_pickup", MP_MILESTONE_AVAILABLE_FOR_PICKUP, MP_REASON_NONE, 0, 0},
    {"return_to_sender", MP_MILESTONE_RETURN_TO_SENDER, MP_REASON_NONE, 0, 0},
    {"failure", MP_MILESTONE_EXCEPTION, MP_REASON_OTHER, 0, 0},
    {"cancelled", MP_MILESTONE_CANCELLED, MP_REASON_NONE, 0, 0},
    {"canceled", MP_MILESTONE_CANCELLED, MP_REASON_NONE, 0, 0},
};

/* `status_detail` [D], all 28 values. */
const code easypost_details[] = {
    {"address_correction", MP_MILESTONE_EXCEPTION, MP_REASON_ADDRESS, 0, 0},
    {"arrived_at_destination", MP_MILESTONE_IN_TRANSIT, MP_REASON_NONE, 0, 0},
    {"arrived_at_facility", MP_MILESTONE_IN_TRANSIT, MP_REASON_NONE, 0, 0},
    {"arrived_at_pickup_location", MP_MILESTONE_AVAILABLE_FOR_PICKUP, MP_REASON_NONE, 0, 0},
    {"awaiting_information", MP_MILESTONE_LABEL_CREATED, MP_REASON_NONE, 0, 0},
    {"cancelled", MP_MILESTONE_CANCELLED, MP_REASON_NONE, 0, 0},
    {"damaged", MP_MILESTONE_DAMAGED, MP_REASON_NONE, MP_EVENT_FLAG_DAMAGED, 0},
    {"delayed", MP_MILESTONE_EXCEPTION, MP_REASON_DELAY, 0, 0},
    {"delivery_exception", MP_MILESTONE_DELIVERY_ATTEMPTED, MP_REASON_NONE, 0, 0},
    {"departed_facility", MP_MILESTONE_IN_TRANSIT, MP_REASON_NONE, 0, 0},
    {"departed_origin_facility", MP_MILESTONE_IN_TRANSIT, MP_REASON_NONE, 0, 0},
    {"expired", MP_MILESTONE_EXPIRED, MP_REASON_NONE, 0, 0},
    {"failure", MP_MILESTONE_EXCEPTION, MP_REASON_OTHER, 0, 0},
    {"held", MP_MILESTONE_EXCEPTION, MP_REASON_HELD, 0, 0},
    {"in_transit", MP_MILESTONE_IN_TRANSIT, MP_REASON_NONE, 0, 0},
    {"label_created", MP_MILESTONE_LABEL_CREATED, MP_REASON_NONE, 0, 0},
    {"lost", MP_MILESTONE_LOST, MP_REASON_NONE, 0, 0},
    {"missorted", MP_MILESTONE_EXCEPTION, MP_REASON_MISROUTED, 0, 0},
    {"out_for_delivery", MP_MILESTONE_OUT_FOR_DELIVERY, MP_REASON_NONE, 0, 0},
    {"received_at_destination_facility", MP_MILESTONE_IN_TRANSIT, MP_REASON_NONE, 0, 0},
    {"received_at_origin_facility", MP_MILESTONE_PICKED_UP, MP_REASON_NONE, 0, 0},
    {"refused", MP_MILESTONE_EXCEPTION, MP_REASON_REFUSED, 0, 0},
    {"return", MP_MILESTONE_RETURN_TO_SENDER, MP_REASON_NONE, 0, 0},
    {"status_update", MP_MILESTONE_LABEL_CREATED, MP_REASON_NONE, 0, EASYPOST_GENERIC},
    {"transferred_to_destination_carrier", MP_MILESTONE_IN_TRANSIT, MP_REASON_NONE, 0, 0},
    {"transit_exception", MP_MILESTONE_EXCEPTION, MP_REASON_DELAY, 0, 0},
    {"unknown", MP_MILESTONE_UNKNOWN, MP_REASON_NONE, 0, EASYPOST_GENERIC},
    {"weather_delay", MP_MILESTONE_EXCEPTION, MP_REASON_WEATHER, 0, 0},
};

/*
 * status_detail when it says more than status, else status (FORMATS.md
 * 2).  `status_update` and `unknown` say nothing more; `address_correction`
 * under `in_transit` is informational: the parcel still moves.
 */
util::mapping easypost_map(run &r, std::string_view status, std::string_view detail)
{
    const code *by_status = status.empty() ? nullptr : lookup(easypost_statuses, status);
    const code *by_detail = detail.empty() ? nullptr : lookup(easypost_details, detail);
    if (by_status == nullptr && !status.empty())
        r.unmapped(status);
    if (by_detail == nullptr && !detail.empty())
        r.unmapped(detail);
    if (by_detail != nullptr && by_detail->special != EASYPOST_GENERIC) {
        if (by_status != nullptr && by_status->milestone == MP_MILESTONE_IN_TRANSIT &&
            by_detail->milestone == MP_MILESTONE_EXCEPTION &&
            by_detail->reason == MP_REASON_ADDRESS)
            return util::mapping{MP_MILESTONE_IN_TRANSIT, MP_REASON_ADDRESS, 0};
        return util::mapped(by_detail);
    }
    if (by_status != nullptr)
        return util::mapped(by_status);
    if (by_detail != nullptr)
        return util::mapped(by_detail);
    return util::mapping{MP_MILESTONE_UNKNOWN, MP_REASON_NONE, 0};
}

/* A delivered tracker with is_return=true is a return delivered back to the sender. */
void easypost_amend(mp_event *event, uint64_t is_return)
{
    if (is_return != 0 && event->milestone == MP_MILESTONE_DELIVERED)
        event->milestone = MP_MILESTONE_RETURNED_TO_SENDER;
}

/* What the payload says beside the history. */
struct easypost_payload {
    std::string_view object, description, updated_at, created_at;
    got result = got::absent;
    std::string_view result_object, tracking_code, carrier, result_updated_at, signed_by;
    std::string_view est_delivery_date, est_delivery_date_local;
    double weight = 0;
    got weight_state = got::absent;
    bool is_return = false;
    std::string_view fee_amounts[MP_MONEY_COUNT_MAX];
    unsigned fee_count = 0;
    uint32_t detail_count = 0;
};

simdjson::error_code easypost_location(od::value &value, run &r, util::checkpoint *point)
{
    got state;
    return util::object(value, r, &state, [&](std::string_view key, od::value &field) {
        std::string_view *target = nullptr;
        if (key == "city")
            target = &point->city;
        else if (key == "state")
            target = &point->region;
        else if (key == "country")
            target = &point->country;
        else if (key == "zip")
            target = &point->postal_code;
        if (target == nullptr)
            return util::ignored;
        got read;
        simdjson::error_code error = util::text(field, r, target, &read);
        point->note(read, "tracking_location");
        return error;
    });
}

/* One tracking_details[] element: one checkpoint. */
simdjson::error_code easypost_detail(od::value &value, uint32_t index, run &r)
{
    util::checkpoint point;
    std::string_view message, description;
    got state;
    simdjson::error_code error =
        util::object(value, r, &state, [&](std::string_view key, od::value &field) {
            std::string_view *target = nullptr;
            if (key == "datetime")
                target = &point.time;
            else if (key == "status")
                target = &point.status;
            else if (key == "status_detail")
                target = &point.substatus;
            else if (key == "carrier_code")
                target = &point.code;
            else if (key == "message")
                target = &message;
            else if (key == "description")
                target = &description;
            else if (key == "tracking_location")
                return easypost_location(field, r, &point);
            if (target == nullptr)
                return util::ignored;
            got read;
            simdjson::error_code e = util::text(field, r, target, &read);
            point.note(read, "tracking_details[]");
            return e;
        });
    if (error)
        return error;
    mp_event *event = r.begin(index);
    if (event == nullptr)
        return simdjson::CAPACITY;
    if (state != got::present) {
        r.reject(event, MP_REJECT_NOT_AN_EVENT, "tracking_details[%u] is not an object",
                 (unsigned)index);
        return simdjson::SUCCESS;
    }
    point.description = message.empty() ? description : message;
    instant when;
    /* EasyPost documents UTC where it knows no local zone. */
    if (!util::checkpoint_time(r, event, point, "datetime", 0, &when))
        return simdjson::SUCCESS;
    if (util::build(r, event, point, easypost_map(r, point.status, point.substatus), when))
        r.end(event, when.utc_ms);
    return simdjson::SUCCESS;
}

simdjson::error_code easypost_fees(od::value &value, run &r, easypost_payload *payload)
{
    got state;
    return util::array(value, r, &state, [&](od::value &fee, uint32_t) {
        got fee_state;
        std::string_view amount;
        simdjson::error_code error =
            util::object(fee, r, &fee_state, [&](std::string_view key, od::value &field) {
                if (key != "amount")
                    return util::ignored;
                got read;
                return util::text(field, r, &amount, &read);
            });
        if (!error && !amount.empty() && payload->fee_count < MP_MONEY_COUNT_MAX)
            payload->fee_amounts[payload->fee_count++] = amount;
        return error;
    });
}

simdjson::error_code easypost_result(od::value &value, run &r, easypost_payload *payload)
{
    return util::object(value, r, &payload->result, [&](std::string_view key, od::value &field) {
        std::string_view *target = nullptr;
        got read;
        if (key == "tracking_details") {
            simdjson::error_code error =
                util::array(field, r, &read, [&](od::value &detail, uint32_t index) {
                    payload->detail_count = index + 1;
                    return easypost_detail(detail, index, r);
                });
            return error ? error : read == got::wrong ? simdjson::INCORRECT_TYPE : error;
        }
        if (key == "weight")
            return util::number(field, r, &payload->weight, &payload->weight_state);
        if (key == "is_return")
            return util::boolean(field, r, &payload->is_return, &read);
        if (key == "fees")
            return easypost_fees(field, r, payload);
        if (key == "carrier_detail")
            return util::object(field, r, &read, [&](std::string_view inner, od::value &v) {
                if (inner != "est_delivery_date_local")
                    return util::ignored;
                got date;
                return util::text(v, r, &payload->est_delivery_date_local, &date);
            });
        if (key == "object")
            target = &payload->result_object;
        else if (key == "tracking_code")
            target = &payload->tracking_code;
        else if (key == "carrier")
            target = &payload->carrier;
        else if (key == "updated_at")
            target = &payload->result_updated_at;
        else if (key == "signed_by")
            target = &payload->signed_by;
        else if (key == "est_delivery_date")
            target = &payload->est_delivery_date;
        if (target == nullptr)
            return util::ignored;
        return util::text(field, r, target, &read);
    });
}

/* The facts event: signer, weight, estimate and fees, at the tracker's updated_at. */
void easypost_facts(run &r, const easypost_payload &payload)
{
    bool has_weight = payload.weight_state == got::present;
    if (payload.signed_by.empty() && !has_weight && payload.est_delivery_date.empty() &&
        payload.est_delivery_date_local.empty() && payload.fee_count == 0)
        return;
    std::string_view time = payload.result_updated_at;
    if (time.empty())
        time = payload.updated_at;
    if (time.empty())
        time = payload.created_at;
    instant when;
    if (!parse_time(time, 0, &when))
        return; /* no time to order these facts by: they cannot be applied safely */
    mp_event *event = util::facts_begin(r, payload.detail_count, when);
    if (event == nullptr)
        return;
    util::fact_text(r, event, &event->signer, payload.signed_by, MP_SIGNER_SIZE_MAX);
    if (has_weight)
        util::fact_weight(r, event, payload.weight, "oz");
    /* The local date is the carrier's own day; est_delivery_date is that day at midnight Z. */
    if (!util::fact_estimate(event, payload.est_delivery_date_local))
        util::fact_estimate(event, payload.est_delivery_date);
    for (unsigned at = 0; at < payload.fee_count; at++)
        util::fact_money(r, event, MP_MONEY_FEE, payload.fee_amounts[at], "USD");
    r.end(event, when.utc_ms);
}

} // namespace

int easypost(od::document &document, run &r)
{
    od::object root;
    simdjson::error_code error = document.get_object().get(root);
    if (error)
        return r.fail_json(error);
    easypost_payload payload;
    error = util::members(root, r, [&](std::string_view key, od::value &field) {
        got read;
        std::string_view *target = nullptr;
        if (key == "result")
            return easypost_result(field, r, &payload);
        if (key == "id")
            return util::delivery_id(field, r);
        if (key == "object")
            target = &payload.object;
        else if (key == "description")
            target = &payload.description;
        else if (key == "updated_at")
            target = &payload.updated_at;
        else if (key == "created_at")
            target = &payload.created_at;
        if (target == nullptr)
            return util::ignored;
        return util::text(field, r, target, &read);
    });
    if (error == simdjson::CAPACITY)
        return MP_ETOOBIG;
    if (error == simdjson::INCORRECT_TYPE && payload.result == got::present)
        return r.fail("result.tracking_details is not an array");
    if (error)
        return r.fail_json(error);
    if (payload.result == got::wrong)
        return r.fail("\"result\" is not an object");
    if (payload.object != "Event" && payload.result != got::present)
        return r.fail("the body is not an EasyPost Event (no \"result\" Tracker)");
    /* Events of other kinds (shipment.*, batch.*) carry no tracker: nothing to report. */
    bool tracker = payload.result_object == "Tracker" ||
                   payload.description.substr(0, 8) == "tracker.";
    if (payload.result == got::present && tracker)
        easypost_facts(r, payload);
    r.shipment(payload.carrier, payload.tracking_code);
    r.amend(easypost_amend, payload.is_return ? 1 : 0);
    /* EasyPost has no explicit acceptance code for plain in_transit (FORMATS.md 1.4). */
    r.want_derived_pickup();
    return 0;
}

} // namespace mp_adapt
