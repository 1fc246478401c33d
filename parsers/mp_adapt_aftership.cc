/*
 * AfterShip tracking webhooks (FORMATS.md 3; docs/adapters.md
 * "AfterShip"), every documented webhook version: 2024-xx
 * (`country_iso3`, `shipment_weight` number + `shipment_weight_unit`),
 * 2025-01+ (`country_region`, `shipment_weight {unit, value}`) and 2026-01
 * (`postal_code` for `zip`).
 *
 * Paths: `ts`, `event_id` (delivery id), `msg`: `tracking_number`,
 * `slug`, `signed_by`, `shipment_weight[_unit]`, `order_number` /
 * `order_id`, `latest_estimated_delivery.datetime`,
 * `courier_estimated_delivery_date.estimated_delivery_date`,
 * `aftership_estimated_delivery_date`, `expected_delivery`, `updated_at`,
 * and `checkpoints[]` {`checkpoint_time`, `created_at`, `tag`, `subtag`,
 * `raw_tag`, `message`, `city`, `state`, `zip`/`postal_code`,
 * `country_region`/`country_iso3`}.
 */

#include "mp_adapt_util.h"

namespace mp_adapt {

namespace {

using util::got;

/* `tag` [D]: the parent of every subtag. */
const code aftership_tags[] = {
    {"Pending", MP_MILESTONE_UNKNOWN, MP_REASON_NONE, 0, 0},
    {"InfoReceived", MP_MILESTONE_LABEL_CREATED, MP_REASON_NONE, 0, 0},
    {"InTransit", MP_MILESTONE_IN_TRANSIT, MP_REASON_NONE, 0, 0},
    {"OutForDelivery", MP_MILESTONE_OUT_FOR_DELIVERY, MP_REASON_NONE, 0, 0},
    {"AttemptFail", MP_MILESTONE_DELIVERY_ATTEMPTED, MP_REASON_NONE, 0, 0},
    {"Delivered", MP_MILESTONE_DELIVERED, MP_REASON_NONE, 0, 0},
    {"AvailableForPickup", MP_MILESTONE_AVAILABLE_FOR_PICKUP, MP_REASON_NONE, 0, 0},
    {"Exception", MP_MILESTONE_EXCEPTION, MP_REASON_OTHER, 0, 0},
    {"Expired", MP_MILESTONE_EXPIRED, MP_REASON_NONE, 0, 0},
};

/* `subtag` [D], including the 2026 additions and the codes whose meaning is not confirmed. */
const code aftership_subtags[] = {
    {"Pending_001", MP_MILESTONE_UNKNOWN, MP_REASON_NONE, 0, 0},
    {"Pending_002", MP_MILESTONE_UNKNOWN, MP_REASON_NONE, 0, 0},
    {"Pending_003", MP_MILESTONE_UNKNOWN, MP_REASON_NONE, 0, 0},
    {"Pending_004", MP_MILESTONE_UNKNOWN, MP_REASON_NONE, 0, 0},
    {"Pending_005", MP_MILESTONE_UNKNOWN, MP_REASON_NONE, 0, 0},
    {"Pending_006", MP_MILESTONE_UNKNOWN, MP_REASON_NONE, 0, 0},
    {"InfoReceived_001", MP_MILESTONE_LABEL_CREATED, MP_REASON_NONE, 0, 0},
    {"InTransit_001", MP_MILESTONE_IN_TRANSIT, MP_REASON_NONE, 0, 0},
    {"InTransit_002", MP_MILESTONE_PICKED_UP, MP_REASON_NONE, 0, 0},
    {"InTransit_003", MP_MILESTONE_IN_TRANSIT, MP_REASON_NONE, 0, 0},
    {"InTransit_004", MP_MILESTONE_IN_TRANSIT, MP_REASON_NONE, 0, 0},
    {"InTransit_005", MP_MILESTONE_IN_TRANSIT, MP_REASON_NONE, 0, 0},
    {"InTransit_006", MP_MILESTONE_IN_TRANSIT, MP_REASON_CUSTOMS, 0, 0},
    {"InTransit_007", MP_MILESTONE_IN_TRANSIT, MP_REASON_NONE, 0, 0},
    {"InTransit_008", MP_MILESTONE_IN_TRANSIT, MP_REASON_NONE, 0, 0},
    {"InTransit_009", MP_MILESTONE_IN_TRANSIT, MP_REASON_NONE, 0, 0},
    {"OutForDelivery_001", MP_MILESTONE_OUT_FOR_DELIVERY, MP_REASON_NONE, 0, 0},
    {"OutForDelivery_003", MP_MILESTONE_OUT_FOR_DELIVERY, MP_REASON_NONE, 0, 0},
    {"OutForDelivery_004", MP_MILESTONE_OUT_FOR_DELIVERY, MP_REASON_NONE, 0, 0},
    {"AttemptFail_001", MP_MILESTONE_DELIVERY_ATTEMPTED, MP_REASON_NONE, 0, 0},
    {"AttemptFail_002", MP_MILESTONE_DELIVERY_ATTEMPTED, MP_REASON_RECIPIENT_UNAVAILABLE, 0, 0},
    {"AttemptFail_003", MP_MILESTONE_DELIVERY_ATTEMPTED, MP_REASON_NONE, 0, 0},
    {"Delivered_001", MP_MILESTONE_DELIVERED, MP_REASON_NONE, 0, 0},
    {"Delivered_002", MP_MILESTONE_DELIVERED, MP_REASON_NONE, 0, 0}, /* picked up BY the customer */
    {"Delivered_003", MP_MILESTONE_DELIVERED, MP_REASON_NONE, 0, 0},
    {"Delivered_004", MP_MILESTONE_DELIVERED, MP_REASON_NONE, 0, 0},
    {"Delivered_005", MP_MILESTONE_DELIVERED, MP_REASON_NONE, 0, 0},
    {"AvailableForPickup_001", MP_MILESTONE_AVAILABLE_FOR_PICKUP, MP_REASON_NONE, 0, 0},
    {"Exception_001", MP_MILESTONE_EXCEPTION, MP_REASON_OTHER, 0, 0},
    {"Exception_002", MP_MILESTONE_EXCEPTION, MP_REASON_ADDRESS, 0, 0},
    {"Exception_003", MP_MILESTONE_EXCEPTION, MP_REASON_REFUSED, 0, 0},
    {"Exception_004", MP_MILESTONE_EXCEPTION, MP_REASON_CUSTOMS, 0, 0},
    {"Exception_005", MP_MILESTONE_EXCEPTION, MP_REASON_DELAY, 0, 0},
    {"Exception_006", MP_MILESTONE_EXCEPTION, MP_REASON_PAYMENT_DUE, 0, 0},
    {"Exception_007", MP_MILESTONE_EXCEPTION, MP_REASON_ADDRESS, 0, 0},
    {"Exception_008", MP_MILESTONE_EXCEPTION, MP_REASON_NOT_COLLECTED, 0, 0},
    {"Exception_009", MP_MILESTONE_EXCEPTION, MP_REASON_PROHIBITED, 0, 0},
    {"Exception_010", MP_MILESTONE_RETURN_TO_SENDER, MP_REASON_NONE, 0, 0},
    {"Exception_011", MP_MILESTONE_RETURNED_TO_SENDER, MP_REASON_NONE, 0, 0},
    {"Exception_012", MP_MILESTONE_DAMAGED, MP_REASON_NONE, MP_EVENT_FLAG_DAMAGED, 0},
    {"Exception_013", MP_MILESTONE_LOST, MP_REASON_NONE, 0, 0},
    {"Exception_014", MP_MILESTONE_EXCEPTION, MP_REASON_OTHER, 0, 0}, /* meaning not confirmed */
    {"Exception_015", MP_MILESTONE_EXCEPTION, MP_REASON_OTHER, 0, 0}, /* meaning not confirmed */
    {"Exception_016", MP_MILESTONE_EXCEPTION, MP_REASON_DELAY, 0, 0},
    {"Exception_017", MP_MILESTONE_EXCEPTION, MP_REASON_WEATHER, 0, 0},
    {"Exception_018", MP_MILESTONE_EXCEPTION, MP_REASON_CUSTOMS, 0, 0},
    {"Expired_001", MP_MILESTONE_EXPIRED, MP_REASON_NONE, 0, 0},
};

/*
 * The subtag's row; an unknown subtag falls back to its tag (the field,
 * or the subtag's part before `_`), then UNKNOWN, and is counted.
 */
util::mapping aftership_map(run &r, std::string_view tag, std::string_view subtag)
{
    if (!subtag.empty()) {
        if (const code *row = lookup(aftership_subtags, subtag))
            return util::mapped(row);
        r.unmapped(subtag);
        if (tag.empty())
            tag = subtag.substr(0, subtag.find('_'));
        if (const code *row = lookup(aftership_tags, tag))
            return util::mapped(row);
        return util::mapping{MP_MILESTONE_UNKNOWN, MP_REASON_NONE, 0};
    }
    if (const code *row = lookup(aftership_tags, tag))
        return util::mapped(row);
    if (!tag.empty())
        r.unmapped(tag);
    return util::mapping{MP_MILESTONE_UNKNOWN, MP_REASON_NONE, 0};
}

struct aftership_payload {
    std::string_view ts, updated_at;
    got msg = got::absent;
    std::string_view tracking_number, slug, signed_by, order_number, order_id;
    std::string_view weight_unit;                 /* 2024: shipment_weight_unit */
    double weight = 0;
    got weight_state = got::absent;
    std::string_view latest_estimate, courier_estimate, aftership_estimate, expected_delivery;
    uint32_t checkpoint_count = 0;
};

/* One checkpoints[] element. */
simdjson::error_code aftership_checkpoint(od::value &value, uint32_t index, run &r)
{
    util::checkpoint point;
    std::string_view created_at;
    got state;
    simdjson::error_code error =
        util::object(value, r, &state, [&](std::string_view key, od::value &field) {
            std::string_view *target = nullptr;
            if (key == "checkpoint_time")
                target = &point.time;
            else if (key == "created_at")
                target = &created_at;
            else if (key == "tag")
                target = &point.status;
            else if (key == "subtag")
                target = &point.substatus;
            else if (key == "raw_tag")
                target = &point.code;
            else if (key == "message")
                target = &point.description;
            else if (key == "city")
                target = &point.city;
            else if (key == "state")
                target = &point.region;
            else if (key == "zip" || key == "postal_code")
                target = &point.postal_code;
            else if (key == "country_region" || key == "country_iso3")
                target = &point.country;
            if (target == nullptr)
                return util::ignored;
            got read;
            std::string_view text;
            simdjson::error_code e = util::text(field, r, &text, &read);
            point.note(read, "checkpoints[]");
            /* zip and postal_code, or the two country names: the first non-empty wins. */
            if (!e && read == got::present && target->empty())
                *target = text;
            return e;
        });
    if (error)
        return error;
    mp_event *event = r.begin(index);
    if (event == nullptr)
        return simdjson::CAPACITY;
    if (state != got::present) {
        r.reject(event, MP_REJECT_NOT_AN_EVENT, "checkpoints[%u] is not an object",
                 (unsigned)index);
        return simdjson::SUCCESS;
    }
    instant when;
    /* checkpoint_time is carrier-local; AfterShip documents no default zone: UTC. */
    if (!util::checkpoint_time(r, event, point, "checkpoint_time", 0, &when))
        return simdjson::SUCCESS;
    /* An offset-less time orders by created_at, AfterShip's own UTC time (FORMATS.md 10). */
    int64_t sort_ms = when.utc_ms;
    instant stored;
    if (when.offset_assumed && parse_time(created_at, 0, &stored) && !stored.offset_assumed)
        sort_ms = stored.utc_ms;
    if (util::build(r, event, point, aftership_map(r, point.status, point.substatus), when))
        r.end(event, sort_ms);
    return simdjson::SUCCESS;
}

/* `{..., "<key>": "<date>"}` objects holding an estimate. */
simdjson::error_code aftership_estimate(od::value &value, run &r, std::string_view key,
                                        std::string_view *out)
{
    got state;
    return util::object(value, r, &state, [&](std::string_view inner, od::value &field) {
        if (inner != key)
            return util::ignored;
        got read;
        return util::text(field, r, out, &read);
    });
}

simdjson::error_code aftership_msg(od::value &value, run &r, aftership_payload *payload)
{
    return util::object(value, r, &payload->msg, [&](std::string_view key, od::value &field) {
        got read;
        std::string_view *target = nullptr;
        if (key == "checkpoints") {
            simdjson::error_code error =
                util::array(field, r, &read, [&](od::value &point, uint32_t index) {
                    payload->checkpoint_count = index + 1;
                    return aftership_checkpoint(point, index, r);
                });
            return error ? error : read == got::wrong ? simdjson::INCORRECT_TYPE : error;
        }
        if (key == "shipment_weight") {
            od::json_type type;
            simdjson::error_code error = field.type().get(type);
            if (error)
                return error;
            if (type != od::json_type::object)   /* 2024: a number beside its unit */
                return util::number(field, r, &payload->weight, &payload->weight_state);
            std::string_view unit;
            error = util::object(field, r, &read, [&](std::string_view inner, od::value &v) {
                got part;
                if (inner == "value")
                    return util::number(v, r, &payload->weight, &payload->weight_state);
                if (inner == "unit")
                    return util::text(v, r, &unit, &part);
                return util::ignored;
            });
            if (!unit.empty())
                payload->weight_unit = unit;
            return error;
        }
        if (key == "latest_estimated_delivery")
            return aftership_estimate(field, r, "datetime", &payload->latest_estimate);
        if (key == "courier_estimated_delivery_date")
            return aftership_estimate(field, r, "estimated_delivery_date",
                                      &payload->courier_estimate);
        if (key == "aftership_estimated_delivery_date") {
            od::json_type type;
            simdjson::error_code error = field.type().get(type);
            if (error)
                return error;
            if (type == od::json_type::object)
                return aftership_estimate(field, r, "estimated_delivery_date",
                                          &payload->aftership_estimate);
            target = &payload->aftership_estimate;
        }
        if (key == "tracking_number")
            target = &payload->tracking_number;
        else if (key == "slug")
            target = &payload->slug;
        else if (key == "signed_by")
            target = &payload->signed_by;
        else if (key == "order_number")
            target = &payload->order_number;
        else if (key == "order_id")
            target = &payload->order_id;
        else if (key == "shipment_weight_unit")
            target = payload->weight_unit.empty() ? &payload->weight_unit : nullptr;
        else if (key == "expected_delivery")
            target = &payload->expected_delivery;
        else if (key == "updated_at")
            target = &payload->updated_at;
        if (target == nullptr)
            return util::ignored;
        return util::text(field, r, target, &read);
    });
}

/* The facts event: signer, weight, order number and estimate, at `ts`. */
void aftership_facts(run &r, const aftership_payload &payload)
{
    bool has_weight = payload.weight_state == got::present && !payload.weight_unit.empty();
    std::string_view reference =
        !payload.order_number.empty() ? payload.order_number : payload.order_id;
    std::string_view estimate = payload.latest_estimate;
    for (std::string_view candidate :
         {payload.courier_estimate, payload.aftership_estimate, payload.expected_delivery}) {
        if (estimate.empty())
            estimate = candidate;
    }
    if (payload.signed_by.empty() && !has_weight && reference.empty() && estimate.empty())
        return;
    instant when = {};
    int64_t ts_ms;
    if (parse_epoch_seconds(payload.ts, &ts_ms))
        when.utc_ms = ts_ms;
    else if (!parse_time(payload.updated_at, 0, &when))
        return; /* no time to order these facts by: they cannot be applied safely */
    mp_event *event = util::facts_begin(r, payload.checkpoint_count, when);
    if (event == nullptr)
        return;
    util::fact_text(r, event, &event->signer, payload.signed_by, MP_SIGNER_SIZE_MAX);
    util::fact_text(r, event, &event->shipment_ref, reference, MP_SHIPMENT_REF_SIZE_MAX);
    if (has_weight)
        util::fact_weight(r, event, payload.weight, payload.weight_unit);
    util::fact_estimate(event, estimate);
    r.end(event, when.utc_ms);
}

} // namespace

int aftership(od::document &document, run &r)
{
    od::object root;
    simdjson::error_code error = document.get_object().get(root);
    if (error)
        return r.fail_json(error);
    aftership_payload payload;
    error = util::members(root, r, [&](std::string_view key, od::value &field) {
        got read;
        if (key == "msg")
            return aftership_msg(field, r, &payload);
        if (key == "event_id")
            return util::delivery_id(field, r);
        if (key == "ts")
            return util::text(field, r, &payload.ts, &read);
        return util::ignored;
    });
    if (error == simdjson::CAPACITY)
        return MP_ETOOBIG;
    if (error == simdjson::INCORRECT_TYPE && payload.msg == got::present)
        return r.fail("msg.checkpoints is not an array");
    if (error)
        return r.fail_json(error);
    if (payload.msg != got::present)
        return r.fail("the body is not an AfterShip webhook (no \"msg\" Tracking object)");
    aftership_facts(r, payload);
    r.shipment(payload.slug, payload.tracking_number);
    return 0;
}

} // namespace mp_adapt
