/*
 * UPS (FORMATS.md 6): the Track API response (trackResponse.shipment[]
 * .package[].activity[], most recent first) and the Track Alert push (one
 * flat TrackingEvent, no history).  Told apart by shape: a body with
 * "trackResponse" is a Track API response, one with the TrackingEvent
 * fields is an alert.
 *
 * Event time: the gmt date and time (UTC), written in the offset gmtOffset
 * gives; else the local date and time with that offset; else with the
 * country's single zone or UTC, assumed.  Status: the 3-digit
 * Status/Description Code (statusCode, or the alert's descriptionCode as
 * a string or an integer), else the 2-letter scan code where it is
 * unambiguous, else the activity type.  Payload facts: estimated delivery,
 * signer, weight, COD and the first reference number, at the time of the
 * package's newest activity.
 */

#include "mp_adapt_carriers.h"

namespace mp_adapt {

namespace {

using namespace carrier;

enum ups_special : uint8_t {
    UPS_NONE = 0,
    UPS_NO_MILESTONE,  /* ETA updates, delivery photos, claims: no checkpoint */
};

#define UPS_ROW(name, milestone, reason) \
    {name, MP_MILESTONE_##milestone, MP_REASON_##reason, 0, UPS_NONE}
#define UPS_NONE_ROW(name) {name, MP_MILESTONE_UNKNOWN, MP_REASON_NONE, 0, UPS_NO_MILESTONE}

/* Status/Description Codes (FORMATS.md 6, mapping table). */
const code status_codes[] = {
    UPS_ROW("003", LABEL_CREATED, NONE),
    UPS_ROW("079", LABEL_CREATED, NONE),
    UPS_ROW("080", LABEL_CREATED, NONE),
    UPS_ROW("157", LABEL_CREATED, NONE),
    UPS_ROW("166", LABEL_CREATED, NONE),
    UPS_ROW("007", CANCELLED, NONE),
    UPS_ROW("038", PICKED_UP, NONE),
    UPS_ROW("160", PICKED_UP, NONE),
    UPS_ROW("167", PICKED_UP, NONE),
    UPS_ROW("168", PICKED_UP, NONE),
    UPS_ROW("169", PICKED_UP, NONE),
    UPS_ROW("005", IN_TRANSIT, NONE),
    UPS_ROW("010", IN_TRANSIT, NONE),
    UPS_ROW("025", IN_TRANSIT, NONE),
    UPS_ROW("039", IN_TRANSIT, NONE),
    UPS_ROW("044", IN_TRANSIT, NONE),
    UPS_ROW("045", IN_TRANSIT, NONE),
    UPS_ROW("047", IN_TRANSIT, NONE),
    UPS_ROW("057", IN_TRANSIT, NONE),
    UPS_ROW("073", IN_TRANSIT, NONE),
    UPS_ROW("074", IN_TRANSIT, NONE),
    UPS_ROW("087", IN_TRANSIT, NONE),
    UPS_ROW("137", IN_TRANSIT, NONE),
    UPS_ROW("138", IN_TRANSIT, NONE),
    UPS_ROW("158", IN_TRANSIT, NONE),
    UPS_ROW("159", IN_TRANSIT, NONE),
    UPS_ROW("164", IN_TRANSIT, NONE),
    UPS_ROW("165", IN_TRANSIT, NONE),
    UPS_ROW("012", IN_TRANSIT, NONE),
    UPS_ROW("014", IN_TRANSIT, NONE),
    UPS_ROW("084", IN_TRANSIT, NONE),
    UPS_ROW("092", IN_TRANSIT, NONE),
    UPS_ROW("134", IN_TRANSIT, NONE),
    UPS_ROW("016", IN_TRANSIT, NONE),
    UPS_ROW("070", IN_TRANSIT, NONE),
    UPS_ROW("071", IN_TRANSIT, NONE),
    UPS_ROW("075", IN_TRANSIT, NONE),
    UPS_ROW("006", OUT_FOR_DELIVERY, NONE),
    UPS_ROW("021", OUT_FOR_DELIVERY, NONE),
    UPS_ROW("037", OUT_FOR_DELIVERY, NONE),
    UPS_ROW("072", OUT_FOR_DELIVERY, NONE),
    UPS_ROW("078", OUT_FOR_DELIVERY, NONE),
    UPS_ROW("089", OUT_FOR_DELIVERY, NONE),
    UPS_ROW("091", OUT_FOR_DELIVERY, NONE),
    UPS_ROW("146", OUT_FOR_DELIVERY, NONE),
    UPS_ROW("162", OUT_FOR_DELIVERY, NONE),
    UPS_ROW("022", DELIVERY_ATTEMPTED, NONE),
    UPS_ROW("023", DELIVERY_ATTEMPTED, NONE),
    UPS_ROW("024", DELIVERY_ATTEMPTED, NONE),
    UPS_ROW("060", DELIVERY_ATTEMPTED, NONE),
    UPS_ROW("061", DELIVERY_ATTEMPTED, NONE),
    UPS_ROW("066", DELIVERY_ATTEMPTED, NONE),
    UPS_ROW("145", DELIVERY_ATTEMPTED, NONE),
    UPS_ROW("062", DELIVERY_ATTEMPTED, PAYMENT_DUE),
    UPS_ROW("017", AVAILABLE_FOR_PICKUP, NONE),
    UPS_ROW("040", AVAILABLE_FOR_PICKUP, NONE),
    UPS_ROW("144", AVAILABLE_FOR_PICKUP, NONE),
    UPS_ROW("161", AVAILABLE_FOR_PICKUP, NONE),
    UPS_ROW("011", DELIVERED, NONE),
    UPS_ROW("026", DELIVERED, NONE),
    UPS_ROW("064", EXCEPTION, REFUSED),
    UPS_ROW("050", EXCEPTION, ADDRESS),
    UPS_ROW("027", EXCEPTION, ADDRESS),
    UPS_ROW("058", EXCEPTION, CUSTOMS),
    UPS_ROW("123", EXCEPTION, CUSTOMS),
    UPS_ROW("124", EXCEPTION, CUSTOMS),
    UPS_ROW("125", EXCEPTION, CUSTOMS),
    UPS_ROW("126", EXCEPTION, CUSTOMS),
    UPS_ROW("032", EXCEPTION, WEATHER),
    UPS_ROW("051", EXCEPTION, WEATHER),
    UPS_ROW("052", EXCEPTION, WEATHER),
    UPS_ROW("053", EXCEPTION, WEATHER),
    UPS_ROW("046", EXCEPTION, DELAY),
    UPS_ROW("048", EXCEPTION, DELAY),
    UPS_ROW("049", EXCEPTION, DELAY),
    UPS_ROW("086", EXCEPTION, DELAY),
    UPS_ROW("090", EXCEPTION, DELAY),
    UPS_ROW("132", EXCEPTION, DELAY),
    UPS_ROW("085", EXCEPTION, PAYMENT_DUE),
    UPS_ROW("083", EXCEPTION, HELD),
    UPS_ROW("069", EXCEPTION, UNDELIVERABLE),
    UPS_ROW("141", EXCEPTION, CUSTOMS),
    UPS_ROW("013", EXCEPTION, OTHER),
    UPS_ROW("029", EXCEPTION, OTHER),
    UPS_ROW("030", EXCEPTION, OTHER),
    UPS_ROW("076", EXCEPTION, OTHER),
    UPS_ROW("033", RETURN_TO_SENDER, NONE),
    UPS_ROW("035", RETURN_TO_SENDER, NONE),
    UPS_ROW("036", RETURN_TO_SENDER, NONE),
    UPS_ROW("118", RETURN_TO_SENDER, NONE),
    UPS_ROW("119", RETURN_TO_SENDER, NONE),
    UPS_ROW("034", RETURNED_TO_SENDER, NONE),
    UPS_ROW("067", RETURNED_TO_SENDER, NONE),
    UPS_ROW("059", DAMAGED, NONE),
    {"081", MP_MILESTONE_RETURN_TO_SENDER, MP_REASON_NONE, MP_EVENT_FLAG_DAMAGED, UPS_NONE},
    UPS_ROW("068", EXCEPTION, HELD),
    UPS_ROW("147", LOST, DISPOSED),
    UPS_ROW("149", LOST, DISPOSED),
    UPS_ROW("148", UNKNOWN, NONE),
    UPS_ROW("163", UNKNOWN, NONE),
    UPS_NONE_ROW("153"),
    UPS_NONE_ROW("154"),
    UPS_NONE_ROW("155"),
    UPS_NONE_ROW("127"),
    UPS_NONE_ROW("128"),
    UPS_NONE_ROW("129"),
    UPS_NONE_ROW("130"),
    UPS_NONE_ROW("140"),
    UPS_NONE_ROW("142"),
};

/* Activity types, the fallback (current appendix plus the older P, O, RS). */
const code activity_types[] = {
    UPS_ROW("M", LABEL_CREATED, NONE),
    UPS_ROW("MV", CANCELLED, NONE),
    UPS_ROW("P", PICKED_UP, NONE),
    UPS_ROW("I", IN_TRANSIT, NONE),
    UPS_ROW("DO", IN_TRANSIT, NONE),
    UPS_ROW("DD", IN_TRANSIT, NONE),
    UPS_ROW("W", IN_TRANSIT, NONE),
    UPS_ROW("O", OUT_FOR_DELIVERY, NONE),
    UPS_ROW("D", DELIVERED, NONE),
    UPS_ROW("X", EXCEPTION, NONE),
    UPS_ROW("RS", RETURN_TO_SENDER, NONE),
    UPS_ROW("NA", UNKNOWN, NONE),
    UPS_NONE_ROW("U"),
};

/*
 * Two-letter scan codes that name a milestone unambiguously, tried before
 * the type when the 3-digit code is absent or unknown: the documented
 * alert example is type I, code OT, "Out for Delivery" [I].
 */
const code scan_codes[] = {
    UPS_ROW("OT", OUT_FOR_DELIVERY, NONE),
    UPS_ROW("PU", PICKED_UP, NONE),
    UPS_ROW("FS", DELIVERED, NONE),
};

#undef UPS_ROW
#undef UPS_NONE_ROW

/* Maps one activity; false when it names no milestone (no checkpoint). */
bool map_activity(run &r, std::string_view status_code, std::string_view scan_code,
                  std::string_view type, checkpoint *c)
{
    const code *row = find(status_codes, status_code);
    if (row == nullptr && !status_code.empty())
        r.unmapped(status_code);
    if (row == nullptr && (type.empty() || equals_folded(type, "I")))
        row = find(scan_codes, scan_code, true);
    if (row == nullptr) {
        row = find(activity_types, type, true);
        if (row == nullptr && !type.empty() && status_code.empty())
            r.unmapped(type);
    }
    if (row != nullptr && row->special == UPS_NO_MILESTONE)
        return false;
    if (row != nullptr) {
        c->milestone = row->milestone;
        c->reason = row->reason;
        c->flags |= row->flags;
    }
    return true;
}

/* The date, time and offset texts of one activity, as read. */
struct clock_read {
    std::string_view date, time, gmt_date, gmt_time, offset;
};

/*
 * FORMATS.md 6 and 10: gmt date and time are the instant, written in
 * gmtOffset; without them the local date and time with gmtOffset; without
 * an offset, the country's single zone, else UTC (assumed).
 */
void activity_time(const clock_read &k, checkpoint *c)
{
    instant local;
    bool has_local = !k.date.empty() && !k.time.empty() &&
                     parse_ups_time(k.date, k.time, k.offset, 0, &local);
    instant gmt;
    if (!k.gmt_date.empty() && !k.gmt_time.empty() &&
        parse_ups_time(k.gmt_date, k.gmt_time, "+00:00", 0, &gmt)) {
        c->time = gmt;
        c->has_time = true;
        instant written;
        if (!k.offset.empty() && parse_ups_time("19700101", "000000", k.offset, 0, &written)) {
            c->time.offset_min = written.offset_min;
        } else if (has_local) {
            /* No offset given: the local wall clock minus the instant is it. */
            int64_t offset_ms = local.utc_ms - gmt.utc_ms;
            if (offset_ms % (15 * 60000) == 0 && offset_ms >= -14 * 3600000LL &&
                offset_ms <= 14 * 3600000LL)
                c->time.offset_min = (int16_t)(offset_ms / 60000);
        }
    } else if (has_local) {
        c->time = local;
        c->has_time = true;
        if (local.offset_assumed) {
            int16_t offset;
            int64_t wall_ms = local.utc_ms;
            if (country_offset(c->where.country, wall_ms, &offset) &&
                country_offset(c->where.country, wall_ms - (int64_t)offset * 60000, &offset)) {
                c->time.utc_ms = wall_ms - (int64_t)offset * 60000;
                c->time.offset_min = offset;
            }
        }
    } else if (!k.date.empty() || !k.gmt_date.empty()) {
        c->trouble.set(MP_REJECT_BAD_TIME, k.gmt_date.empty() ? "date" : "gmtDate",
                       "is not a UPS date and time");
    }
    c->sort_ms = c->time.utc_ms;
}

/* A YYYYMMDD day (estimated delivery). */
bool ups_day(std::string_view date, facts *f)
{
    instant day;
    if (!parse_ups_time(date, "000000", "+00:00", 0, &day))
        return false;
    f->eta_kind = MP_DATE_DAY;
    f->eta_ms = day.utc_ms;
    return true;
}

/* ---- Track API ----------------------------------------------------------------- */

struct status_read {
    std::string_view type, code, status_code, description;
};

error_code read_status(run &r, od::value &value, status_read *s, checkpoint *c)
{
    return walk_object(r, value, [&](std::string_view key, od::value &v, bool *used) -> error_code {
        *used = true;
        if (key == "type")
            return read_text(r, v, &s->type, &c->trouble, "status.type");
        if (key == "code")
            return read_text(r, v, &s->code, &c->trouble, "status.code");
        if (key == "statusCode" || key == "descriptionCode")
            return read_code(r, v, &s->status_code, c->code_buffer, sizeof c->code_buffer, 3,
                             &c->trouble, "statusCode");
        if (key == "description")
            return read_text(r, v, &s->description, &c->trouble, "status.description");
        *used = false;
        return simdjson::SUCCESS;
    });
}

error_code read_address(run &r, od::value &value, place *where, problem *p)
{
    std::string_view country_name;
    error_code error = walk_object(r, value, [&](std::string_view key, od::value &v, bool *used) -> error_code {
        *used = true;
        if (key == "city")
            return read_text(r, v, &where->city, p, "city");
        if (key == "stateProvince")
            return read_text(r, v, &where->region, p, "stateProvince");
        if (key == "postalCode")
            return read_text(r, v, &where->postal, p, "postalCode");
        if (key == "countryCode")
            return read_text(r, v, &where->country, p, "countryCode");
        if (key == "country")
            return read_text(r, v, &country_name, p, "country");
        *used = false;
        return simdjson::SUCCESS;
    });
    if (where->country.empty())
        where->country = country_name;
    return error;
}

/* activity[].location: {address {...}, slic}. */
error_code read_location(run &r, od::value &value, place *where, problem *p)
{
    return read_member(r, value, "address", [&](od::value &v) -> error_code {
        return read_address(r, v, where, p);
    });
}

struct package_state {
    shipment_id id;
    facts f;
    std::string_view signer;
    bool has_newest = false;
    instant newest = {};
};

error_code read_activity(run &r, od::value &value, package_state *pkg, uint32_t index)
{
    checkpoint c;
    c.index = index;
    c.time_field = "gmtDate";
    od::object object;
    bool is_object;
    error_code error = as_object(r, value, &object, &is_object);
    if (error)
        return error;
    if (!is_object) {
        c.trouble.set(MP_REJECT_NOT_AN_EVENT, "activity[]", "must be an object");
        emit_checkpoint(r, pkg->id, c);
        return simdjson::SUCCESS;
    }
    status_read s;
    clock_read k;
    bool logical = false;
    error = walk(object, r, [&](std::string_view key, od::value &v, bool *used) -> error_code {
        *used = true;
        if (key == "status")
            return read_status(r, v, &s, &c);
        if (key == "location")
            return read_location(r, v, &c.where, &c.trouble);
        if (key == "date")
            return read_text(r, v, &k.date, &c.trouble, "date");
        if (key == "time")
            return read_text(r, v, &k.time, &c.trouble, "time");
        if (key == "gmtDate")
            return read_text(r, v, &k.gmt_date, &c.trouble, "gmtDate");
        if (key == "gmtTime")
            return read_text(r, v, &k.gmt_time, &c.trouble, "gmtTime");
        if (key == "gmtOffset")
            return read_text(r, v, &k.offset, &c.trouble, "gmtOffset");
        if (key == "logicalScan")
            return read_bool(r, v, &logical, &c.trouble, "logicalScan");
        *used = false;
        return simdjson::SUCCESS;
    });
    if (error)
        return error;
    activity_time(k, &c);
    c.status = s.type;
    c.substatus = s.code;
    c.code = s.status_code;
    c.description = s.description;
    if (logical)
        c.flags |= MP_EVENT_FLAG_LOGICAL_SCAN;
    bool kept = map_activity(r, s.status_code, s.code, s.type, &c);
    if (c.has_time && (!pkg->has_newest || c.time.utc_ms > pkg->newest.utc_ms)) {
        pkg->newest = c.time;
        pkg->has_newest = true;
    }
    if (kept)
        emit_checkpoint(r, pkg->id, c);
    return simdjson::SUCCESS;
}

/* Pass 1 over a package: everything but activity[]. */
error_code read_package_facts(run &r, od::object &object, package_state *pkg)
{
    facts &f = pkg->f;
    std::string_view eta_scheduled, eta_rescheduled;
    error_code error = walk(object, r, [&](std::string_view key, od::value &v, bool *used) -> error_code {
        *used = true;
        if (key == "activity")
            return simdjson::SUCCESS; /* pass 2 */
        if (key == "trackingNumber")
            return read_text(r, v, &pkg->id.number, &f.trouble, "trackingNumber");
        if (key == "deliveryDate") {
            return each_element(r, v, [&](od::value &entry) -> error_code {
                std::string_view type, day;
                error_code e = walk_object(r, entry, [&](std::string_view k, od::value &x, bool *u) -> error_code {
                    *u = true;
                    if (k == "type")
                        return read_text(r, x, &type, &f.trouble, "deliveryDate.type");
                    if (k == "date")
                        return read_text(r, x, &day, &f.trouble, "deliveryDate.date");
                    *u = false;
                    return simdjson::SUCCESS;
                });
                if (type == "RDD")
                    eta_rescheduled = day;
                else if (type == "SDD")
                    eta_scheduled = day;
                return e;
            });
        }
        if (key == "deliveryInformation") {
            return read_member(r, v, "receivedBy", [&](od::value &x) -> error_code {
                return read_text(r, x, &f.signer, &f.trouble, "receivedBy");
            });
        }
        if (key == "weight") {
            std::string_view unit, raw;
            double value = 0;
            bool present = false;
            error_code failure = walk_object(r, v, [&](std::string_view k, od::value &x, bool *u) -> error_code {
                *u = true;
                if (k == "unitOfMeasurement")
                    return read_text(r, x, &unit, &f.trouble, "weight.unitOfMeasurement");
                if (k == "weight")
                    return read_number(r, x, &value, &raw, &present, &f.trouble, "weight.weight");
                *u = false;
                return simdjson::SUCCESS;
            });
            if (!failure && present)
                facts_weight(&f, value, unit, "weight.unitOfMeasurement");
            return failure;
        }
        if (key == "paymentInformation") {
            return each_element(r, v, [&](od::value &entry) -> error_code {
                std::string_view type, amount, currency;
                double number;
                bool present = false;
                error_code e = walk_object(r, entry, [&](std::string_view k, od::value &x, bool *u) -> error_code {
                    *u = true;
                    if (k == "type")
                        return read_text(r, x, &type, &f.trouble, "paymentInformation.type");
                    if (k == "amount")
                        return read_number(r, x, &number, &amount, &present, &f.trouble,
                                           "paymentInformation.amount");
                    if (k == "currency")
                        return read_text(r, x, &currency, &f.trouble,
                                         "paymentInformation.currency");
                    *u = false;
                    return simdjson::SUCCESS;
                });
                if (!e && present && (type == "COD" || type == "ICOD"))
                    f.add_money(MP_MONEY_COD, amount, currency);
                return e;
            });
        }
        if (key == "referenceNumber") {
            return each_element(r, v, [&](od::value &entry) -> error_code {
                return read_member(r, entry, "number", [&](od::value &x) -> error_code {
                    std::string_view number;
                    error_code e2 = read_text(r, x, &number, &f.trouble, "referenceNumber.number");
                    if (f.shipment_ref.empty())
                        f.shipment_ref = number;
                    return e2;
                });
            });
        }
        *used = false;
        return simdjson::SUCCESS;
    });
    std::string_view eta = !eta_rescheduled.empty() ? eta_rescheduled : eta_scheduled;
    if (!error && !eta.empty() && !ups_day(eta, &f))
        f.trouble.set(MP_REJECT_BAD_TIME, "deliveryDate.date", "is not a YYYYMMDD date");
    return error;
}

/* A walk stops with this when the adapter already failed the payload. */
const error_code stop_walk = simdjson::UNINITIALIZED;

error_code walk_package(run &r, od::value &value, uint32_t *index, int *result)
{
    od::object object;
    bool is_object;
    error_code error = as_object(r, value, &object, &is_object);
    if (error)
        return error;
    if (!is_object) {
        *result = r.fail("the body is not a UPS Track API response: a package is not an object");
        return stop_walk;
    }
    package_state pkg;
    pkg.id.carrier = "UPS";
    error = read_package_facts(r, object, &pkg);
    if (error)
        return error;
    error = object.reset().error();
    if (error)
        return error;
    error = walk(object, r, [&](std::string_view key, od::value &v, bool *used) -> error_code {
        *used = true; /* everything else was read in pass 1 */
        if (key != "activity")
            return simdjson::SUCCESS;
        return each_element(r, v, [&](od::value &activity) -> error_code {
            return read_activity(r, activity, &pkg, (*index)++);
        });
    }, false);
    if (error)
        return error;
    emit_facts(r, (*index)++, pkg.id, pkg.f, pkg.has_newest ? pkg.newest : received_instant(r));
    return simdjson::SUCCESS;
}

int track_response(run &r, od::value &response)
{
    od::object object;
    bool is_object;
    error_code error = as_object(r, response, &object, &is_object);
    if (error)
        return r.fail_json(error);
    if (!is_object)
        return r.fail("the body is not a UPS Track API response: \"trackResponse\" is not an object");
    uint32_t index = 0;
    int result = 0;
    error = walk(object, r, [&](std::string_view key, od::value &v, bool *used) -> error_code {
        if (key != "shipment")
            return simdjson::SUCCESS;
        *used = true;
        return each_element(r, v, [&](od::value &shipment_value) -> error_code {
            return read_member(r, shipment_value, "package", [&](od::value &x) -> error_code {
                return each_element(r, x, [&](od::value &package) -> error_code {
                    return walk_package(r, package, &index, &result);
                });
            });
        });
    });
    if (result != 0)
        return result;
    return error ? r.fail_json(error) : 0;
}

/* ---- Track Alert ---------------------------------------------------------------- */

int track_alert(run &r, od::object &root)
{
    checkpoint c;
    c.time_field = "gmtActivityDate";
    facts f;
    shipment_id id;
    id.carrier = "UPS";
    status_read s;
    clock_read k;
    std::string_view scheduled;
    bool is_alert = false;
    error_code error = walk(root, r, [&](std::string_view key, od::value &v, bool *used) -> error_code {
        *used = true;
        if (key == "trackingNumber") {
            is_alert = true;
            return read_text(r, v, &id.number, &c.trouble, "trackingNumber");
        }
        if (key == "activityStatus") {
            is_alert = true;
            return read_status(r, v, &s, &c);
        }
        if (key == "activityLocation")
            return read_address(r, v, &c.where, &c.trouble);
        if (key == "localActivityDate")
            return read_text(r, v, &k.date, &c.trouble, "localActivityDate");
        if (key == "localActivityTime")
            return read_text(r, v, &k.time, &c.trouble, "localActivityTime");
        if (key == "gmtActivityDate")
            return read_text(r, v, &k.gmt_date, &c.trouble, "gmtActivityDate");
        if (key == "gmtActivityTime")
            return read_text(r, v, &k.gmt_time, &c.trouble, "gmtActivityTime");
        if (key == "gmtOffset")
            return read_text(r, v, &k.offset, &c.trouble, "gmtOffset");
        if (key == "scheduledDeliveryDate")
            return read_text(r, v, &scheduled, &f.trouble, "scheduledDeliveryDate");
        if (key == "receivedBy")
            return read_text(r, v, &f.signer, &f.trouble, "receivedBy");
        *used = false;
        return simdjson::SUCCESS;
    }, false);
    if (error)
        return r.fail_json(error);
    if (!is_alert)
        return r.fail("the body is not a UPS payload: neither \"trackResponse\" nor a Track Alert "
                      "\"trackingNumber\"/\"activityStatus\"");
    if (!scheduled.empty() && !ups_day(scheduled, &f))
        f.trouble.set(MP_REJECT_BAD_TIME, "scheduledDeliveryDate", "is not a YYYYMMDD date");
    activity_time(k, &c);
    c.status = s.type;
    c.substatus = s.code;
    c.code = s.status_code;
    c.description = s.description;
    bool kept = map_activity(r, s.status_code, s.code, s.type, &c);
    if (kept)
        emit_checkpoint(r, id, c);
    emit_facts(r, 1, id, f, c.has_time ? c.time : received_instant(r));
    return 0;
}

} // namespace

int ups(od::document &document, run &r)
{
    od::object root;
    error_code error = document.get_object().get(root);
    if (error)
        return r.fail_json(error);
    /* Pass 1: is it a Track API response? */
    bool api = false;
    error = walk(root, r, [&](std::string_view key, od::value &, bool *used) -> error_code {
        *used = true; /* read (and validated) by pass 2 */
        if (key == "trackResponse")
            api = true;
        return simdjson::SUCCESS;
    });
    if (!error)
        error = root.reset().error();
    if (error)
        return r.fail_json(error);
    if (!api)
        return track_alert(r, root);
    int result = 0;
    bool seen = false;
    error = walk(root, r, [&](std::string_view key, od::value &v, bool *used) -> error_code {
        if (key != "trackResponse" || seen)
            return simdjson::SUCCESS;
        *used = true;
        seen = true;
        result = track_response(r, v);
        return result != 0 ? stop_walk : simdjson::SUCCESS;
    }, false);
    if (result != 0)
        return result;
    return error ? r.fail_json(error) : 0;
}

} // namespace mp_adapt
