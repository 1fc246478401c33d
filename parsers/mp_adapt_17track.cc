/*
 * 17TRACK webhooks v2.x: `TRACKING_UPDATED` and `TRACKING_STOPPED`
 * (FORMATS.md 9; docs/adapters.md "17TRACK").
 *
 * Paths: `event`, `data`: `number`, `carrier` (integer key), `tag` (our
 * own label: the shipment reference), `track_info`: `latest_event
 * .time_utc`, `time_metrics.estimated_delivery_date.to`,
 * `misc_info.weight_kg`, and `tracking.providers[]` {`provider` {key,
 * name}, `latest_sync_time`, `events[]` {`time_iso`, `time_utc`,
 * `time_raw` {date, time, timezone}, `sub_status`, `stage`,
 * `description`, `address` {country, state, city, postal_code}}}.  The
 * providers' histories are merged into one.
 */

#include "mp_adapt_util.h"

namespace mp_adapt {

namespace {

using util::got;

/* The main status [C]: the parent of every sub-status (its part before `_`). */
const code seventeen_statuses[] = {
    {"NotFound", MP_MILESTONE_UNKNOWN, MP_REASON_NONE, 0, 0},
    {"InfoReceived", MP_MILESTONE_LABEL_CREATED, MP_REASON_NONE, 0, 0},
    {"InTransit", MP_MILESTONE_IN_TRANSIT, MP_REASON_NONE, 0, 0},
    {"Expired", MP_MILESTONE_EXPIRED, MP_REASON_NONE, 0, 0},
    {"AvailableForPickup", MP_MILESTONE_AVAILABLE_FOR_PICKUP, MP_REASON_NONE, 0, 0},
    {"OutForDelivery", MP_MILESTONE_OUT_FOR_DELIVERY, MP_REASON_NONE, 0, 0},
    {"DeliveryFailure", MP_MILESTONE_DELIVERY_ATTEMPTED, MP_REASON_NONE, 0, 0},
    {"Delivered", MP_MILESTONE_DELIVERED, MP_REASON_NONE, 0, 0},
    {"Exception", MP_MILESTONE_EXCEPTION, MP_REASON_OTHER, 0, 0},
};

/* The sub-status [C], all 30. */
const code seventeen_substatuses[] = {
    {"NotFound_Other", MP_MILESTONE_UNKNOWN, MP_REASON_NONE, 0, 0},
    {"NotFound_InvalidCode", MP_MILESTONE_UNKNOWN, MP_REASON_NONE, 0, 0},
    {"InfoReceived", MP_MILESTONE_LABEL_CREATED, MP_REASON_NONE, 0, 0},
    {"InTransit_PickedUp", MP_MILESTONE_PICKED_UP, MP_REASON_NONE, 0, 0},
    {"InTransit_Other", MP_MILESTONE_IN_TRANSIT, MP_REASON_NONE, 0, 0},
    {"InTransit_Departure", MP_MILESTONE_IN_TRANSIT, MP_REASON_NONE, 0, 0},
    {"InTransit_Arrival", MP_MILESTONE_IN_TRANSIT, MP_REASON_NONE, 0, 0},
    {"InTransit_CustomsProcessing", MP_MILESTONE_IN_TRANSIT, MP_REASON_NONE, 0, 0},
    {"InTransit_CustomsReleased", MP_MILESTONE_IN_TRANSIT, MP_REASON_NONE, 0, 0},
    {"InTransit_CustomsRequiringInformation", MP_MILESTONE_EXCEPTION, MP_REASON_CUSTOMS, 0, 0},
    {"Expired_Other", MP_MILESTONE_EXPIRED, MP_REASON_NONE, 0, 0},
    {"AvailableForPickup_Other", MP_MILESTONE_AVAILABLE_FOR_PICKUP, MP_REASON_NONE, 0, 0},
    {"OutForDelivery_Other", MP_MILESTONE_OUT_FOR_DELIVERY, MP_REASON_NONE, 0, 0},
    {"DeliveryFailure_Other", MP_MILESTONE_DELIVERY_ATTEMPTED, MP_REASON_NONE, 0, 0},
    {"DeliveryFailure_NoBody", MP_MILESTONE_DELIVERY_ATTEMPTED, MP_REASON_RECIPIENT_UNAVAILABLE,
     0, 0},
    {"DeliveryFailure_Security", MP_MILESTONE_DELIVERY_ATTEMPTED, MP_REASON_CUSTOMS, 0, 0},
    {"DeliveryFailure_Rejected", MP_MILESTONE_DELIVERY_ATTEMPTED, MP_REASON_REFUSED, 0, 0},
    {"DeliveryFailure_InvalidAddress", MP_MILESTONE_DELIVERY_ATTEMPTED, MP_REASON_ADDRESS, 0, 0},
    {"Delivered_Other", MP_MILESTONE_DELIVERED, MP_REASON_NONE, 0, 0},
    {"Exception_Other", MP_MILESTONE_EXCEPTION, MP_REASON_OTHER, 0, 0},
    {"Exception_Returning", MP_MILESTONE_RETURN_TO_SENDER, MP_REASON_NONE, 0, 0},
    {"Exception_Returned", MP_MILESTONE_RETURNED_TO_SENDER, MP_REASON_NONE, 0, 0},
    {"Exception_NoBody", MP_MILESTONE_EXCEPTION, MP_REASON_RECIPIENT_UNAVAILABLE, 0, 0},
    {"Exception_Security", MP_MILESTONE_EXCEPTION, MP_REASON_CUSTOMS, 0, 0},
    {"Exception_Damage", MP_MILESTONE_DAMAGED, MP_REASON_NONE, MP_EVENT_FLAG_DAMAGED, 0},
    {"Exception_Rejected", MP_MILESTONE_EXCEPTION, MP_REASON_REFUSED, 0, 0},
    {"Exception_Delayed", MP_MILESTONE_EXCEPTION, MP_REASON_DELAY, 0, 0},
    {"Exception_Lost", MP_MILESTONE_LOST, MP_REASON_NONE, 0, 0},
    {"Exception_Destroyed", MP_MILESTONE_LOST, MP_REASON_DISPOSED, 0, 0},
    {"Exception_Cancel", MP_MILESTONE_CANCELLED, MP_REASON_NONE, 0, 0},
};

/* Key stages, for an event with no sub-status. */
const code seventeen_stages[] = {
    {"InfoReceived", MP_MILESTONE_LABEL_CREATED, MP_REASON_NONE, 0, 0},
    {"PickedUp", MP_MILESTONE_PICKED_UP, MP_REASON_NONE, 0, 0},
    {"Departure", MP_MILESTONE_IN_TRANSIT, MP_REASON_NONE, 0, 0},
    {"Arrival", MP_MILESTONE_IN_TRANSIT, MP_REASON_NONE, 0, 0},
    {"AvailableForPickup", MP_MILESTONE_AVAILABLE_FOR_PICKUP, MP_REASON_NONE, 0, 0},
    {"OutForDelivery", MP_MILESTONE_OUT_FOR_DELIVERY, MP_REASON_NONE, 0, 0},
    {"Delivered", MP_MILESTONE_DELIVERED, MP_REASON_NONE, 0, 0},
    {"Returning", MP_MILESTONE_RETURN_TO_SENDER, MP_REASON_NONE, 0, 0},
    {"Returned", MP_MILESTONE_RETURNED_TO_SENDER, MP_REASON_NONE, 0, 0},
};

/*
 * The sub-status's row; else the key stage's; else the sub-status's
 * prefix (newer values such as InTransit_TransportArrived); else UNKNOWN.
 * Anything but an exact sub-status or a stage alone is counted.
 */
util::mapping seventeen_map(run &r, std::string_view sub_status, std::string_view stage)
{
    if (!sub_status.empty()) {
        if (const code *row = lookup(seventeen_substatuses, sub_status))
            return util::mapped(row);
        r.unmapped(sub_status);
    }
    if (const code *row = stage.empty() ? nullptr : lookup(seventeen_stages, stage))
        return util::mapped(row);
    if (!sub_status.empty()) {
        if (const code *row = lookup(seventeen_statuses, sub_status.substr(0, sub_status.find('_'))))
            return util::mapped(row);
    } else if (!stage.empty()) {
        r.unmapped(stage);
    }
    return util::mapping{MP_MILESTONE_UNKNOWN, MP_REASON_NONE, 0};
}

struct seventeen_payload {
    std::string_view event;
    got data = got::absent;
    std::string_view number, carrier_key, tag;
    std::string_view latest_event_time, latest_sync_time, estimate_to, weight_kg;
    struct provider_name {
        std::string_view key, name;
    };
    provider_name providers[8];          /* the first legs' keys and names */
    unsigned provider_count = 0;
    uint32_t event_count = 0;
};

simdjson::error_code seventeen_text(od::value &value, run &r, std::string_view *out,
                                    util::checkpoint *point, const char *name)
{
    got read;
    simdjson::error_code error = util::text(value, r, out, &read);
    if (point != nullptr)
        point->note(read, name);
    return error;
}

/* `time_raw {date, time, timezone}` as one RFC 3339 text in `buffer`. */
std::string_view seventeen_raw_time(std::string_view date, std::string_view time,
                                    std::string_view zone, char (&buffer)[64])
{
    if (date.empty() || date.size() + time.size() + zone.size() + 2 > sizeof buffer)
        return std::string_view();
    size_t used = 0;
    memcpy(buffer, date.data(), date.size());
    used = date.size();
    if (!time.empty()) {
        buffer[used++] = 'T';
        memcpy(buffer + used, time.data(), time.size());
        used += time.size();
        /* An empty view's data() may be null, and memcpy's arguments may not. */
        if (!zone.empty()) {
            memcpy(buffer + used, zone.data(), zone.size());
            used += zone.size();
        }
    }
    return std::string_view(buffer, used);
}

/* One providers[].events[] element. */
simdjson::error_code seventeen_event(od::value &value, uint32_t index, run &r)
{
    util::checkpoint point;
    std::string_view time_utc, raw_date, raw_time, raw_zone;
    got state;
    simdjson::error_code error =
        util::object(value, r, &state, [&](std::string_view key, od::value &field) {
            got read;
            if (key == "time_raw")
                return util::object(field, r, &read, [&](std::string_view inner, od::value &v) {
                    if (inner == "date")
                        return seventeen_text(v, r, &raw_date, &point, "time_raw");
                    if (inner == "time")
                        return seventeen_text(v, r, &raw_time, &point, "time_raw");
                    if (inner == "timezone")
                        return seventeen_text(v, r, &raw_zone, &point, "time_raw");
                    return util::ignored;
                });
            if (key == "address")
                return util::object(field, r, &read, [&](std::string_view inner, od::value &v) {
                    std::string_view *part = nullptr;
                    if (inner == "country")
                        part = &point.country;
                    else if (inner == "state")
                        part = &point.region;
                    else if (inner == "city")
                        part = &point.city;
                    else if (inner == "postal_code")
                        part = &point.postal_code;
                    if (part == nullptr)
                        return util::ignored;
                    return seventeen_text(v, r, part, &point, "address");
                });
            std::string_view *target = nullptr;
            if (key == "time_iso")
                target = &point.time;
            else if (key == "time_utc")
                target = &time_utc;
            else if (key == "sub_status")
                target = &point.status;
            else if (key == "stage")
                target = &point.substatus;
            else if (key == "description")
                target = &point.description;
            if (target == nullptr)
                return util::ignored;
            return seventeen_text(field, r, target, &point, "events[]");
        });
    if (error)
        return error;
    mp_event *event = r.begin(index);
    if (event == nullptr)
        return simdjson::CAPACITY;
    if (state != got::present) {
        r.reject(event, MP_REJECT_NOT_AN_EVENT, "events[%u] is not an object", (unsigned)index);
        return simdjson::SUCCESS;
    }
    /*
     * time_iso carries the local offset; time_utc is the instant to sort
     * by and the one to trust when time_iso has no offset.  With neither,
     * time_raw (a date, maybe a time and zone).
     */
    instant utc;
    bool has_utc = parse_time(time_utc, 0, &utc) && !utc.offset_assumed && !utc.date_only;
    char raw_buffer[64];
    if (point.time.empty())
        point.time = has_utc ? time_utc : seventeen_raw_time(raw_date, raw_time, raw_zone,
                                                              raw_buffer);
    instant when;
    if (!util::checkpoint_time(r, event, point, "time_iso", 0, &when))
        return simdjson::SUCCESS;
    if (when.offset_assumed && !when.date_only && has_utc) {
        /* The local wall clock beside its UTC instant gives the offset itself. */
        int64_t wall_ms = when.utc_ms + (int64_t)when.offset_min * 60000;
        int64_t offset_min = (wall_ms - utc.utc_ms) / 60000;
        if (offset_min >= -18 * 60 && offset_min <= 18 * 60) {
            when.utc_ms = utc.utc_ms;
            when.offset_min = (int16_t)offset_min;
            when.offset_assumed = false;
        }
    }
    int64_t sort_ms = has_utc ? utc.utc_ms : when.utc_ms;
    if (util::build(r, event, point, seventeen_map(r, point.status, point.substatus), when))
        r.end(event, sort_ms);
    return simdjson::SUCCESS;
}

simdjson::error_code seventeen_provider(od::value &value, run &r, seventeen_payload *payload)
{
    got state;
    std::string_view key_text, name;
    simdjson::error_code error =
        util::object(value, r, &state, [&](std::string_view key, od::value &field) {
            got read;
            if (key == "provider")
                return util::object(field, r, &read, [&](std::string_view inner, od::value &v) {
                    if (inner == "key")
                        return seventeen_text(v, r, &key_text, nullptr, nullptr);
                    if (inner == "name")
                        return seventeen_text(v, r, &name, nullptr, nullptr);
                    return util::ignored;
                });
            if (key == "latest_sync_time") {
                std::string_view sync;
                simdjson::error_code e = seventeen_text(field, r, &sync, nullptr, nullptr);
                instant candidate, best;
                if (!e && parse_time(sync, 0, &candidate) &&
                    (!parse_time(payload->latest_sync_time, 0, &best) ||
                     candidate.utc_ms > best.utc_ms))
                    payload->latest_sync_time = sync;
                return e;
            }
            if (key == "events") {
                simdjson::error_code e =
                    util::array(field, r, &read, [&](od::value &element, uint32_t) {
                        return seventeen_event(element, payload->event_count++, r);
                    });
                return e ? e : read == got::wrong ? simdjson::INCORRECT_TYPE : e;
            }
            return util::ignored;
        });
    if (!error && !key_text.empty() && !name.empty() && payload->provider_count < 8)
        payload->providers[payload->provider_count++] = {key_text, name};
    return error;
}

simdjson::error_code seventeen_track_info(od::value &value, run &r, seventeen_payload *payload)
{
    got state;
    return util::object(value, r, &state, [&](std::string_view key, od::value &field) {
        got read;
        if (key == "latest_event")
            return util::object(field, r, &read, [&](std::string_view inner, od::value &v) {
                if (inner != "time_utc")
                    return util::ignored;
                return seventeen_text(v, r, &payload->latest_event_time, nullptr, nullptr);
            });
        if (key == "time_metrics")
            return util::object(field, r, &read, [&](std::string_view inner, od::value &v) {
                if (inner != "estimated_delivery_date")
                    return util::ignored;
                got window;
                return util::object(v, r, &window, [&](std::string_view bound, od::value &b) {
                    if (bound != "to")
                        return util::ignored;
                    return seventeen_text(b, r, &payload->estimate_to, nullptr, nullptr);
                });
            });
        if (key == "misc_info")
            return util::object(field, r, &read, [&](std::string_view inner, od::value &v) {
                if (inner != "weight_kg")
                    return util::ignored;
                return seventeen_text(v, r, &payload->weight_kg, nullptr, nullptr);
            });
        if (key == "tracking")
            return util::object(field, r, &read, [&](std::string_view inner, od::value &v) {
                if (inner != "providers")
                    return util::ignored;
                got list;
                simdjson::error_code e = util::array(v, r, &list, [&](od::value &p, uint32_t) {
                    return seventeen_provider(p, r, payload);
                });
                return e ? e : list == got::wrong ? simdjson::INCORRECT_TYPE : e;
            });
        return util::ignored;
    });
}

simdjson::error_code seventeen_data(od::value &value, run &r, seventeen_payload *payload)
{
    return util::object(value, r, &payload->data, [&](std::string_view key, od::value &field) {
        if (key == "track_info")
            return seventeen_track_info(field, r, payload);
        if (key == "number")
            return seventeen_text(field, r, &payload->number, nullptr, nullptr);
        if (key == "carrier")
            return seventeen_text(field, r, &payload->carrier_key, nullptr, nullptr);
        if (key == "tag")
            return seventeen_text(field, r, &payload->tag, nullptr, nullptr);
        return util::ignored;
    });
}

/*
 * The facts event: weight (kg), estimate (the window's end) and our tag,
 * at the providers' latest sync time (when 17TRACK last looked: it moves
 * on even when no new checkpoint came), else the latest event's time.
 */
void seventeen_facts(run &r, const seventeen_payload &payload)
{
    double weight = 0;
    bool has_weight = false;
    if (!payload.weight_kg.empty() && payload.weight_kg.size() < 32) {
        char digits[32];
        memcpy(digits, payload.weight_kg.data(), payload.weight_kg.size());
        digits[payload.weight_kg.size()] = '\0';
        char *end = nullptr;
        weight = strtod(digits, &end);
        has_weight = end == digits + payload.weight_kg.size() && weight > 0;
    }
    if (!has_weight && payload.estimate_to.empty() && payload.tag.empty())
        return;
    instant when;
    if (!parse_time(payload.latest_sync_time, 0, &when) &&
        !parse_time(payload.latest_event_time, 0, &when))
        return; /* no time to order these facts by: they cannot be applied safely */
    mp_event *event = util::facts_begin(r, payload.event_count, when);
    if (event == nullptr)
        return;
    util::fact_text(r, event, &event->shipment_ref, payload.tag, MP_SHIPMENT_REF_SIZE_MAX);
    if (has_weight)
        util::fact_weight(r, event, weight, "kg");
    util::fact_estimate(event, payload.estimate_to);
    r.end(event, when.utc_ms);
}

} // namespace

int seventeen_track(od::document &document, run &r)
{
    od::object root;
    simdjson::error_code error = document.get_object().get(root);
    if (error)
        return r.fail_json(error);
    seventeen_payload payload;
    error = util::members(root, r, [&](std::string_view key, od::value &field) {
        if (key == "data")
            return seventeen_data(field, r, &payload);
        if (key == "event")
            return seventeen_text(field, r, &payload.event, nullptr, nullptr);
        return util::ignored;
    });
    if (error == simdjson::CAPACITY)
        return MP_ETOOBIG;
    if (error == simdjson::INCORRECT_TYPE && payload.data == got::present)
        return r.fail("data.track_info.tracking.providers or its events is not an array");
    if (error)
        return r.fail_json(error);
    if (payload.data != got::present || payload.event.empty())
        return r.fail("the body is not a 17TRACK webhook (no \"event\" and \"data\")");
    /* The carrier is named by the leg whose key is data.carrier, else by the key itself. */
    std::string_view carrier = payload.carrier_key;
    for (unsigned at = 0; at < payload.provider_count; at++) {
        if (payload.providers[at].key == payload.carrier_key) {
            carrier = payload.providers[at].name;
            break;
        }
    }
    /* TRACKING_STOPPED carries no history and no facts (FORMATS.md 9): nothing to report. */
    if (payload.event == "TRACKING_UPDATED")
        seventeen_facts(r, payload);
    r.shipment(carrier, payload.number);
    return 0;
}

} // namespace mp_adapt
