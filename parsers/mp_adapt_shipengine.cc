/*
 * ShipEngine / ShipStation API tracking (FORMATS.md 5): the track webhook
 * envelope {resource_url, resource_type API_TRACK | TRACK_EVENT_V2,
 * data}, the bare tracking_information object the API answers, and the
 * older shape with shipped_date, events[].event_date and links.
 *
 * Event time: events[].occurred_at (UTC); its offset is the difference
 * to carrier_occurred_at, the carrier's local wall clock.  Status:
 * status_detail_code, else status_code.  Payload facts: the estimated
 * delivery (and a signer seen only on a PROOF_OF_DELIVERY event), at the
 * time of the newest checkpoint.
 */

#include "mp_adapt_carriers.h"

namespace mp_adapt {

namespace {

using namespace carrier;

enum shipengine_special : uint8_t {
    SE_NONE = 0,
    SE_NO_CHANGE,      /* evidence only: no checkpoint of its own */
    SE_FALL_BACK,      /* CARRIER_STATUS_NOT_MAPPED: use status_code */
    SE_COD_PAID,       /* delivered, COD collected (no amount is given) */
};

const code status_codes[] = {
    {"UN", MP_MILESTONE_UNKNOWN, MP_REASON_NONE, 0, SE_NONE},
    {"NY", MP_MILESTONE_LABEL_CREATED, MP_REASON_NONE, 0, SE_NONE},
    {"AC", MP_MILESTONE_PICKED_UP, MP_REASON_NONE, 0, SE_NONE},
    {"IT", MP_MILESTONE_IN_TRANSIT, MP_REASON_NONE, 0, SE_NONE},
    {"AT", MP_MILESTONE_DELIVERY_ATTEMPTED, MP_REASON_NONE, 0, SE_NONE},
    {"SP", MP_MILESTONE_AVAILABLE_FOR_PICKUP, MP_REASON_NONE, 0, SE_NONE},
    {"DE", MP_MILESTONE_DELIVERED, MP_REASON_NONE, 0, SE_NONE},
    {"EX", MP_MILESTONE_EXCEPTION, MP_REASON_NONE, 0, SE_NONE},
};

#define SE_ROW(name, milestone, reason) \
    {name, MP_MILESTONE_##milestone, MP_REASON_##reason, 0, SE_NONE}

const code status_detail_codes[] = {
    SE_ROW("SHIPMENT_CREATED", LABEL_CREATED, NONE),
    SE_ROW("AWAITING_PICKUP_DROP_OFF", LABEL_CREATED, NONE),
    SE_ROW("ELEC_ADVICE_RECD_BY_CARRIER", LABEL_CREATED, NONE),
    SE_ROW("DROPPED_OFF", PICKED_UP, NONE),
    SE_ROW("PICKED_UP", PICKED_UP, NONE),
    SE_ROW("RECEIVED_BY_CARRIER", PICKED_UP, NONE),
    SE_ROW("RECD_BY_CARRIER_NO_ELEC_ADVICE", PICKED_UP, NONE),
    SE_ROW("CUSTOMS_CLEARED", IN_TRANSIT, NONE),
    SE_ROW("CUSTOMS_PROCESSING", IN_TRANSIT, NONE),
    SE_ROW("DELIVERY_ARRANGED_WITH_RECIPIENT", IN_TRANSIT, NONE),
    SE_ROW("HUB_SCAN_OUT", IN_TRANSIT, NONE),
    SE_ROW("HUB_SCAN_IN", IN_TRANSIT, NONE),
    SE_ROW("HUB_PROCESSING", IN_TRANSIT, NONE),
    SE_ROW("IN_TRANSIT", IN_TRANSIT, NONE),
    SE_ROW("INFORMATION", IN_TRANSIT, NONE),
    SE_ROW("PARCEL_OVER_LABELLED", IN_TRANSIT, NONE),
    SE_ROW("PARCEL_UPDATE_NOTIFICATION", IN_TRANSIT, NONE),
    SE_ROW("RECEIVED_LOCAL_DELIVERY_DEPOT", IN_TRANSIT, NONE),
    SE_ROW("SUB_CONTRACTOR_EVENT", IN_TRANSIT, NONE),
    SE_ROW("SUB_CONTRACTOR_RECEIVED", IN_TRANSIT, NONE),
    SE_ROW("PARCEL_REDIRECTED", IN_TRANSIT, NONE),
    SE_ROW("PARCEL_REDIRECTED_BY_CARRIER", IN_TRANSIT, NONE),
    SE_ROW("DELIVERY_SCHEDULED", IN_TRANSIT, NONE),
    SE_ROW("OUT_FOR_DELIVERY", OUT_FOR_DELIVERY, NONE),
    SE_ROW("ATTEMPTED_DELIVERY", DELIVERY_ATTEMPTED, NONE),
    SE_ROW("ATTEMPTED_DELIVERY_FINAL", DELIVERY_ATTEMPTED, NONE),
    SE_ROW("CUSTOMER_CARDED", DELIVERY_ATTEMPTED, NONE),
    SE_ROW("NO_ACCESS_TO_RECIPIENTS_ADDRESS", DELIVERY_ATTEMPTED, ADDRESS),
    SE_ROW("CUSTOMER_IDENTIFICATION_FAILED", DELIVERY_ATTEMPTED, OTHER),
    SE_ROW("COD_AMOUNT_NOT_PAID", DELIVERY_ATTEMPTED, PAYMENT_DUE),
    SE_ROW("AWAITING_COLLECTION_FROM_PICKUP_POINT", AVAILABLE_FOR_PICKUP, NONE),
    SE_ROW("COLLECT_AT_LOCAL_PO", AVAILABLE_FOR_PICKUP, NONE),
    SE_ROW("CUSTOMER_TO_COLLECT_FROM_CARRIER", AVAILABLE_FOR_PICKUP, NONE),
    SE_ROW("DELIVERED_TO_PICKUP_POINT", AVAILABLE_FOR_PICKUP, NONE),
    SE_ROW("DELIVERED", DELIVERED, NONE),
    SE_ROW("DELIVERED_TO_RECEPTION", DELIVERED, NONE),
    SE_ROW("DELIVERED_SPECIFIED_SAFE_PLACE", DELIVERED, NONE),
    SE_ROW("DELIVERED_TO_ALTERNATIVE_DELIVERY_LOCATION", DELIVERED, NONE),
    SE_ROW("DELIVERED_TO_NEIGHBOUR", DELIVERED, NONE),
    SE_ROW("DELIVERED_TO_PO_BOX", DELIVERED, NONE),
    SE_ROW("PARCEL_COLLECTED_FROM_PICKUP_POINT", DELIVERED, NONE),
    {"DELIVERED_IN_PART", MP_MILESTONE_DELIVERED, MP_REASON_NONE, MP_EVENT_FLAG_PARTIAL, SE_NONE},
    {"DELIVERED_DAMAGED", MP_MILESTONE_DELIVERED, MP_REASON_NONE, MP_EVENT_FLAG_DAMAGED, SE_NONE},
    {"COD_AMOUNT_PAID", MP_MILESTONE_DELIVERED, MP_REASON_NONE, 0, SE_COD_PAID},
    {"PROOF_OF_DELIVERY", MP_MILESTONE_UNKNOWN, MP_REASON_NONE, 0, SE_NO_CHANGE},
    {"POST_TRANSIT_STATUS", MP_MILESTONE_UNKNOWN, MP_REASON_NONE, 0, SE_NO_CHANGE},
    SE_ROW("PARCEL_DAMAGED", DAMAGED, NONE),
    {"PARCEL_REPACKED", MP_MILESTONE_IN_TRANSIT, MP_REASON_NONE, MP_EVENT_FLAG_DAMAGED, SE_NONE},
    SE_ROW("ADDRESS_QUERY", EXCEPTION, ADDRESS),
    SE_ROW("CUSTOMER_MOVED", EXCEPTION, ADDRESS),
    SE_ROW("CARRIER_DELAYS", EXCEPTION, DELAY),
    SE_ROW("DELAYED_NOT_CARRIER", EXCEPTION, DELAY),
    SE_ROW("DELIVERY_RESCHEDULED", EXCEPTION, DELAY),
    SE_ROW("NOT_YET_RECEIVED_BY_CARRIER", EXCEPTION, DELAY),
    SE_ROW("HELD_BY_CARRIER", EXCEPTION, HELD),
    SE_ROW("HELD_BY_CARRIER_FOR_CLEARANCE_PRE_PROCESSING", EXCEPTION, CUSTOMS),
    SE_ROW("HELD_BY_CUSTOMS", EXCEPTION, CUSTOMS),
    SE_ROW("INCORRECT_DECLARATION", EXCEPTION, CUSTOMS),
    SE_ROW("DUTY_NOT_PAID", EXCEPTION, PAYMENT_DUE),
    SE_ROW("MISROUTED", EXCEPTION, MISROUTED),
    SE_ROW("HAZARDOUS_PROHIBITED", EXCEPTION, PROHIBITED),
    SE_ROW("REFUSED_BY_CUSTOMER", EXCEPTION, REFUSED),
    SE_ROW("NOT_COLLECTED_FROM_PICKUP_POINT", EXCEPTION, NOT_COLLECTED),
    SE_ROW("NOT_DELIVERED", EXCEPTION, UNDELIVERABLE),
    SE_ROW("NOT_DELIVERED_ADDRESSEE_DECEASED", EXCEPTION, UNDELIVERABLE),
    SE_ROW("PARCEL_OUTSIDE_OF_SERVICE_CAPABILITY", EXCEPTION, UNDELIVERABLE),
    SE_ROW("PICKUP_FAILED", EXCEPTION, OTHER),
    SE_ROW("UNSPECIFIED_EXCEPTION", EXCEPTION, OTHER),
    {"CARRIER_STATUS_NOT_MAPPED", MP_MILESTONE_EXCEPTION, MP_REASON_OTHER, 0, SE_FALL_BACK},
    SE_ROW("RETURN_TO_SENDER", RETURN_TO_SENDER, NONE),
    SE_ROW("UNDELIVERABLE_RETURNED_TO_SENDER", RETURNED_TO_SENDER, NONE),
    SE_ROW("PARCEL_LOST", LOST, NONE),
    SE_ROW("PARCEL_DISPOSED", LOST, DISPOSED),
    SE_ROW("CANCELLED", CANCELLED, NONE),
    SE_ROW("TRACKING_EXPIRED", EXPIRED, NONE),
};

#undef SE_ROW

/* ---- the resource_url: carrier and number of the older shape ------------------ */

/* The value of `name=` in the query string of `url`, or empty. */
std::string_view query_value(std::string_view url, std::string_view name)
{
    size_t query = url.find('?');
    if (query == std::string_view::npos)
        return std::string_view();
    std::string_view rest = url.substr(query + 1);
    while (!rest.empty()) {
        size_t end = rest.find('&');
        std::string_view pair = rest.substr(0, end);
        if (pair.size() > name.size() && pair.substr(0, name.size()) == name &&
            pair[name.size()] == '=')
            return pair.substr(name.size() + 1);
        if (end == std::string_view::npos)
            break;
        rest.remove_prefix(end + 1);
    }
    return std::string_view();
}

/* `/v1/tracking/{carrier}/{number}`: the two path segments, or empty. */
void path_carrier_number(std::string_view url, std::string_view *carrier, std::string_view *number)
{
    static const std::string_view marker = "/tracking/";
    size_t at = url.find(marker);
    if (at == std::string_view::npos)
        return;
    std::string_view rest = url.substr(at + marker.size());
    rest = rest.substr(0, rest.find_first_of("?#"));
    size_t slash = rest.find('/');
    if (slash == std::string_view::npos || slash == 0 || slash + 1 >= rest.size())
        return;
    std::string_view second = rest.substr(slash + 1);
    if (second.find('/') != std::string_view::npos)
        return;
    *carrier = rest.substr(0, slash);
    *number = second;
}

/* ---- one event ------------------------------------------------------------------- */

struct event_read {
    checkpoint c;
    std::string_view status_code, detail_code, event_code, carrier_status_code,
        carrier_detail_code, carrier_status_description, occurred_at, carrier_occurred_at,
        event_date;
};

error_code read_event(run &r, od::value &value, event_read *e)
{
    od::object object;
    bool is_object;
    error_code error = as_object(r, value, &object, &is_object);
    if (error)
        return error;
    checkpoint &c = e->c;
    if (!is_object) {
        c.trouble.set(MP_REJECT_NOT_AN_EVENT, "events[]", "must be an object");
        return simdjson::SUCCESS;
    }
    return walk(object, r, [&](std::string_view key, od::value &v, bool *used) -> error_code {
        struct {
            const char *name;
            std::string_view *into;
        } const texts[] = {
            {"occurred_at", &e->occurred_at},
            {"carrier_occurred_at", &e->carrier_occurred_at},
            {"event_date", &e->event_date},
            {"description", &c.description},
            {"city_locality", &c.where.city},
            {"state_province", &c.where.region},
            {"postal_code", &c.where.postal},
            {"country_code", &c.where.country},
            {"signer", &c.signer},
            {"event_code", &e->event_code},
            {"carrier_status_code", &e->carrier_status_code},
            {"carrier_detail_code", &e->carrier_detail_code},
            {"carrier_status_description", &e->carrier_status_description},
            {"status_code", &e->status_code},
            {"status_detail_code", &e->detail_code},
        };
        for (const auto &text : texts) {
            if (key == text.name) {
                *used = true;
                return read_text(r, v, text.into, &c.trouble, text.name);
            }
        }
        return simdjson::SUCCESS;
    });
}

/*
 * The event's instant: occurred_at, with the offset carrier_occurred_at
 * implies; else carrier_occurred_at alone (the country's zone, else UTC,
 * assumed); else the older event_date.
 */
void event_time(event_read *e)
{
    checkpoint &c = e->c;
    instant utc, local;
    bool has_utc = !e->occurred_at.empty() && parse_time(e->occurred_at, 0, &utc);
    bool has_local = !e->carrier_occurred_at.empty() &&
                     parse_local_time(e->carrier_occurred_at, c.where.country, 0, &local);
    if (has_utc && !utc.date_only) {
        c.time = utc;
        if (has_local && !local.date_only) {
            /* The carrier's wall clock minus the instant is the local offset. */
            int64_t wall_ms = local.utc_ms + (int64_t)local.offset_min * 60000;
            int64_t offset_ms = wall_ms - utc.utc_ms;
            if (offset_ms % (15 * 60000) == 0 && offset_ms >= -14 * 3600000LL &&
                offset_ms <= 14 * 3600000LL) {
                c.time.offset_min = (int16_t)(offset_ms / 60000);
                c.time.offset_assumed = false;
            }
        }
        c.has_time = true;
    } else if (has_local) {
        c.time = local;
        c.has_time = true;
    } else if (!e->event_date.empty()) {
        c.time_field = "event_date";
        c.has_time = parse_local_time(e->event_date, c.where.country, 0, &c.time);
        if (!c.has_time)
            c.trouble.set(MP_REJECT_BAD_TIME, "event_date", "is not a time");
    } else if (!e->occurred_at.empty() || !e->carrier_occurred_at.empty()) {
        c.trouble.set(MP_REJECT_BAD_TIME, "occurred_at", "is not a time");
    } else {
        c.time_field = "occurred_at";
    }
    c.sort_ms = c.time.utc_ms;
}

/*
 * Maps status_detail_code, else status_code; a code not in the tables is
 * counted as unmapped.  Returns false when the event is evidence only
 * (no checkpoint of its own).
 */
bool map_status(run &r, std::string_view status_code, std::string_view detail_code,
                checkpoint *c)
{
    const code *detail = find(status_detail_codes, detail_code);
    if (detail != nullptr && detail->special == SE_NO_CHANGE)
        return false;
    if (detail != nullptr && detail->special != SE_FALL_BACK) {
        c->milestone = detail->milestone;
        c->reason = detail->reason;
        c->flags |= detail->flags;
        return true;
    }
    if (detail == nullptr && !detail_code.empty())
        r.unmapped(detail_code);
    const code *status = find(status_codes, status_code, true);
    if (status != nullptr) {
        c->milestone = status->milestone;
    } else if (detail != nullptr) {
        /* CARRIER_STATUS_NOT_MAPPED without a status_code to fall back to. */
        c->milestone = detail->milestone;
        c->reason = detail->reason;
    } else {
        c->milestone = MP_MILESTONE_UNKNOWN;
        if (!status_code.empty())
            r.unmapped(status_code);
    }
    return true;
}

/* ---- tracking_information -------------------------------------------------------- */

struct data_read {
    std::string_view carrier, number, status_code, detail_code, carrier_status_code,
        carrier_detail_code;
    bool has_detail_key = false;
    facts f;
};

/*
 * Everything of `data` but events (pass 1).  `root_is_data`: the bare
 * shape, whose object the envelope pass already walked once (it read
 * resource_url and resource_type; nothing may be read twice).
 */
error_code read_data(run &r, od::object &data, data_read *d, bool root_is_data)
{
    return walk(data, r, [&](std::string_view key, od::value &v, bool *used) -> error_code {
        *used = true;
        if (key == "events")
            return simdjson::SUCCESS; /* pass 2 */
        if (root_is_data && (key == "resource_url" || key == "resource_type"))
            return simdjson::SUCCESS; /* read by the envelope pass */
        if (key == "tracking_number")
            return read_text(r, v, &d->number, &d->f.trouble, "tracking_number");
        if (key == "carrier_code")
            return read_text(r, v, &d->carrier, &d->f.trouble, "carrier_code");
        if (key == "status_code")
            return read_text(r, v, &d->status_code, &d->f.trouble, "status_code");
        if (key == "status_detail_code") {
            d->has_detail_key = true;
            return read_text(r, v, &d->detail_code, &d->f.trouble, "status_detail_code");
        }
        if (key == "carrier_status_code")
            return read_text(r, v, &d->carrier_status_code, &d->f.trouble, "carrier_status_code");
        if (key == "carrier_detail_code")
            return read_text(r, v, &d->carrier_detail_code, &d->f.trouble, "carrier_detail_code");
        if (key == "estimated_delivery_date") {
            std::string_view text;
            error_code error = read_text(r, v, &text, &d->f.trouble, "estimated_delivery_date");
            if (!error && !text.empty() && !eta_from_text(text, &d->f))
                d->f.trouble.set(MP_REJECT_BAD_TIME, "estimated_delivery_date", "is not a time");
            return error;
        }
        *used = false;
        return simdjson::SUCCESS;
    }, !root_is_data);
}

/*
 * The older shape's events carry no status: the payload's status is
 * the newest event's.  Finds that event's position (a cheap pass over the
 * times alone, made only when data has no status_detail_code), or -1
 * when some event carries a status of its own.  Values are validated by
 * the pass that reads them, not here.
 */
error_code newest_without_status(od::array &events, int64_t *position)
{
    *position = -1;
    int64_t newest_ms = INT64_MIN;
    int64_t at = 0;
    bool any_status = false;
    error_code error = each(events, [&](od::value &value) -> error_code {
        od::object object;
        if (value.get_object().get(object) == simdjson::SUCCESS) {
            for (auto result : object) {
                od::field field;
                error_code failure = std::move(result).get(field);
                if (failure)
                    return failure;
                /* Raw keys and tokens: pass 3 unescapes them, once. */
                std::string_view key;
                failure = field_key(field, false, &key);
                if (failure)
                    return failure;
                od::value &v = field.value();
                if (key == "status_code" || key == "status_detail_code") {
                    od::json_type type;
                    if (v.type().get(type) == simdjson::SUCCESS && type != od::json_type::null)
                        any_status = true;
                } else if (key == "occurred_at" || key == "event_date") {
                    std::string_view token = trim(v.raw_json_token());
                    instant when;
                    if (token.size() >= 2 && token.front() == '"' && token.back() == '"' &&
                        parse_time(trim(token.substr(1, token.size() - 2)), 0, &when) &&
                        when.utc_ms >= newest_ms) {
                        newest_ms = when.utc_ms;
                        *position = at;
                    }
                }
            }
        }
        at++;
        return simdjson::SUCCESS;
    });
    if (any_status)
        *position = -1;
    return error;
}

/* A walk stops with this when the adapter already failed the payload. */
const error_code stop_walk = simdjson::UNINITIALIZED;

int walk_data(od::object &data, run &r, std::string_view url, bool root_is_data)
{
    data_read d;
    error_code error = read_data(r, data, &d, root_is_data);
    if (error)
        return r.fail_json(error);

    shipment_id id;
    id.carrier = d.carrier;
    id.number = d.number;
    if (id.carrier.empty())
        id.carrier = trim(query_value(url, "carrier_code"));
    if (id.number.empty())
        id.number = trim(query_value(url, "tracking_number"));
    if (id.carrier.empty() || id.number.empty()) {
        std::string_view carrier, number;
        path_carrier_number(url, &carrier, &number);
        if (id.carrier.empty())
            id.carrier = carrier;
        if (id.number.empty())
            id.number = number;
    }

    int64_t newest_plain = -1;
    if (!d.has_detail_key) {
        error = data.reset().error();
        if (!error)
            error = walk(data, r, [&](std::string_view key, od::value &v, bool *used) -> error_code {
                *used = true; /* read by pass 1 or pass 3 */
                od::array events;
                if (key != "events" || v.get_array().get(events) != simdjson::SUCCESS)
                    return simdjson::SUCCESS;
                return newest_without_status(events, &newest_plain);
            }, false);
        if (error)
            return r.fail_json(error);
    }

    instant newest = {};
    bool has_newest = false;
    uint32_t index = 0;
    int result = 0;
    auto one_event = [&](od::value &value) -> error_code {
        event_read e;
        e.c.index = index;
        error_code failure = read_event(r, value, &e);
        if (failure)
            return failure;
        checkpoint &c = e.c;
        event_time(&e);
        std::string_view status_code = e.status_code, detail_code = e.detail_code;
        std::string_view raw_code = !e.event_code.empty()            ? e.event_code
                                    : !e.carrier_status_code.empty() ? e.carrier_status_code
                                                                     : e.carrier_detail_code;
        if (status_code.empty() && detail_code.empty() && (int64_t)index == newest_plain) {
            status_code = d.status_code;
            detail_code = d.detail_code;
            if (raw_code.empty())
                raw_code = !d.carrier_status_code.empty() ? d.carrier_status_code
                                                          : d.carrier_detail_code;
        }
        c.status = status_code;
        c.substatus = detail_code;
        c.code = raw_code;
        if (c.description.empty())
            c.description = e.carrier_status_description;
        bool kept = map_status(r, status_code, detail_code, &c);
        if (c.has_time && (!has_newest || c.time.utc_ms >= newest.utc_ms)) {
            newest = c.time;
            has_newest = true;
        }
        if (kept)
            emit_checkpoint(r, id, c);
        else if (d.f.signer.empty())
            d.f.signer = c.signer; /* proof of delivery: its signer is a payload fact */
        index++;
        return simdjson::SUCCESS;
    };
    error = data.reset().error();
    if (!error)
        error = walk(data, r, [&](std::string_view key, od::value &v, bool *used) -> error_code {
            *used = true; /* everything else was read in pass 1 */
            if (key != "events")
                return simdjson::SUCCESS;
            od::json_type type;
            error_code failure = v.type().get(type);
            if (failure)
                return failure;
            if (type == od::json_type::null)
                return v.is_null().error();
            if (type != od::json_type::array) {
                result = r.fail("the body is not a shipengine payload: \"events\" is not an array");
                return stop_walk;
            }
            od::array events;
            failure = v.get_array().get(events);
            if (failure)
                return failure;
            return each(events, one_event);
        }, false);
    if (result != 0)
        return result;
    if (error)
        return r.fail_json(error);
    emit_facts(r, index, id, d.f, has_newest ? newest : received_instant(r));
    return 0;
}

bool is_track_resource(std::string_view type)
{
    return type == "API_TRACK" || type == "TRACK_EVENT_V2";
}

} // namespace

int shipengine(od::document &document, run &r)
{
    od::object root;
    error_code error = document.get_object().get(root);
    if (error)
        return r.fail_json(error);

    /* Pass 1: the envelope's own fields; `data` is read in pass 2. */
    std::string_view url, resource_type;
    bool has_data = false, has_tracking = false;
    problem trouble;
    error = walk(root, r, [&](std::string_view key, od::value &v, bool *used) -> error_code {
        *used = true;
        if (key == "resource_url")
            return read_text(r, v, &url, &trouble, "resource_url");
        if (key == "resource_type")
            return read_text(r, v, &resource_type, &trouble, "resource_type");
        if (key == "data")
            has_data = true;
        else if (key == "tracking_number" || key == "events" || key == "status_code")
            has_tracking = true;
        return simdjson::SUCCESS; /* validated in pass 2 */
    });
    if (error)
        return r.fail_json(error);
    if (trouble.code != MP_REJECT_NONE)
        return r.fail("the body is not a shipengine payload: \"%s\" %s", trouble.field,
                      trouble.what);
    error = root.reset().error();
    if (error)
        return r.fail_json(error);

    if (!has_data) {
        if (has_tracking)
            return walk_data(root, r, url, true);
        /* Other classic events carry only resource_url: no tracking in them. */
        if (!resource_type.empty() && !is_track_resource(resource_type)) {
            error = walk(root, r, [&](std::string_view, od::value &, bool *) {
                return simdjson::SUCCESS;
            }, false);
            return error ? r.fail_json(error) : 0;
        }
        return r.fail("the body is not a shipengine tracking payload: it has no \"data\"");
    }

    int result = 0;
    bool data_seen = false;
    error = walk(root, r, [&](std::string_view key, od::value &v, bool *used) -> error_code {
        if (key == "resource_url" || key == "resource_type") {
            *used = true; /* read in pass 1 */
            return simdjson::SUCCESS;
        }
        if (key != "data" || data_seen)
            return simdjson::SUCCESS;
        *used = true;
        data_seen = true;
        od::object data;
        bool is_object;
        error_code failure = as_object(r, v, &data, &is_object);
        if (failure)
            return failure;
        if (!is_object) {
            result = r.fail("the body is not a shipengine payload: \"data\" is not an object");
            return stop_walk;
        }
        result = walk_data(data, r, url, false);
        return result != 0 ? stop_walk : simdjson::SUCCESS;
    }, false);
    if (result != 0)
        return result;
    if (error)
        return r.fail_json(error);
    return result;
}

} // namespace mp_adapt
