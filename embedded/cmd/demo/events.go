package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"
)

// order is one generated e-commerce order, the payload of one message. Its
// JSON is MongoDB Extended JSON: dates are {"$date": ...} wrappers, which
// the sink stores as BSON dates, and amounts are integers in cents.
type order struct {
	OrderID  string   `json:"order_id"`
	PlacedAt date     `json:"placed_at"`
	Status   string   `json:"status"`
	Channel  string   `json:"channel"`
	Customer customer `json:"customer"`
	Items    []item   `json:"items"`
	Currency string   `json:"currency"`

	SubtotalCents int `json:"subtotal_cents"`
	ShippingCents int `json:"shipping_cents"`
	TaxCents      int `json:"tax_cents"`
	TotalCents    int `json:"total_cents"`

	Payment  payment  `json:"payment"`
	Shipping shipping `json:"shipping"`
	Coupon   *string  `json:"coupon"`
	Tags     []string `json:"tags"`
}

type customer struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
	Tier  string `json:"tier"`
	Since date   `json:"since"`
}

type item struct {
	SKU            string `json:"sku"`
	Name           string `json:"name"`
	Category       string `json:"category"`
	Quantity       int    `json:"quantity"`
	UnitPriceCents int    `json:"unit_price_cents"`
}

type payment struct {
	Method     string `json:"method"`
	CardLast4  string `json:"card_last4,omitempty"`
	Authorized bool   `json:"authorized"`
}

type shipping struct {
	Method  string  `json:"method"`
	Address address `json:"address"`
	Promise date    `json:"promised_by"`
}

type address struct {
	Street     string `json:"street"`
	City       string `json:"city"`
	PostalCode string `json:"postal_code"`
	Country    string `json:"country"`
}

// date is a time written as an Extended JSON date, {"$date": "..."}.
type date struct {
	Value string `json:"$date"`
}

func dateOf(t time.Time) date {
	return date{Value: t.UTC().Format("2006-01-02T15:04:05.000Z")}
}

// product is an article of the generated shop.
type product struct {
	sku, name, category string
	priceCents          int
}

var catalogue = []product{
	{"BK-1001", "The Pragmatic Gardener", "books", 2499},
	{"BK-1002", "Distributed Systems Field Guide", "books", 4650},
	{"BK-1003", "A Year of Soups", "books", 1899},
	{"KT-2001", "Cast-iron skillet 28 cm", "kitchen", 3990},
	{"KT-2002", "Pour-over coffee set", "kitchen", 2750},
	{"KT-2003", "Chef's knife 20 cm", "kitchen", 6900},
	{"KT-2004", "Bamboo cutting board", "kitchen", 1599},
	{"EL-3001", "Wireless earbuds", "electronics", 7999},
	{"EL-3002", "USB-C charger 65 W", "electronics", 3499},
	{"EL-3003", "Mechanical keyboard", "electronics", 11900},
	{"EL-3004", "27-inch monitor", "electronics", 24900},
	{"EL-3005", "Portable SSD 1 TB", "electronics", 9490},
	{"OD-4001", "Trail running shoes", "outdoor", 12990},
	{"OD-4002", "Rain jacket", "outdoor", 8900},
	{"OD-4003", "Insulated bottle 750 ml", "outdoor", 2490},
	{"OD-4004", "Two-person tent", "outdoor", 21900},
	{"HM-5001", "Linen bed sheets", "home", 8900},
	{"HM-5002", "Desk lamp", "home", 4590},
	{"HM-5003", "Wool throw blanket", "home", 5990},
	{"TY-6001", "Wooden train set", "toys", 3990},
	{"TY-6002", "1000-piece puzzle", "toys", 1790},
}

var (
	firstNames = []string{"Ana", "Ben", "Chloé", "Dmitri", "Elif", "Farah", "Goran", "Hana", "Ivo", "Jonas",
		"Kaja", "Luca", "Maya", "Nils", "Olga", "Pavel", "Rosa", "Sami", "Tereza", "Ugo", "Vera", "Wen", "Yusuf", "Zoë"}
	lastNames = []string{"Almeida", "Berg", "Costa", "Dvořák", "Eriksen", "Fischer", "García", "Horvat",
		"Ivanova", "Jensen", "Kowalski", "Laurent", "Moreau", "Novak", "Okafor", "Petrov", "Rossi", "Schmidt",
		"Tanaka", "Varga", "Weber", "Yilmaz"}
	places = []address{
		{City: "Lisbon", PostalCode: "1100-148", Country: "PT"},
		{City: "Berlin", PostalCode: "10115", Country: "DE"},
		{City: "Lyon", PostalCode: "69002", Country: "FR"},
		{City: "Milan", PostalCode: "20121", Country: "IT"},
		{City: "Prague", PostalCode: "110 00", Country: "CZ"},
		{City: "Oslo", PostalCode: "0150", Country: "NO"},
		{City: "Zagreb", PostalCode: "10000", Country: "HR"},
		{City: "Rotterdam", PostalCode: "3011", Country: "NL"},
	}
	streets  = []string{"Rua Augusta", "Torstraße", "Rue de la République", "Via Torino", "Národní", "Karl Johans gate", "Ilica", "Coolsingel"}
	tiers    = []string{"standard", "standard", "standard", "silver", "silver", "gold"}
	channels = []string{"web", "web", "mobile", "mobile", "store"}
	methods  = []string{"card", "card", "card", "paypal", "bank_transfer"}
	coupons  = []string{"WELCOME10", "SPRING5", "FREESHIP"}
)

// generator makes a reproducible stream of orders from a seed: the same
// seed gives the same orders, byte for byte.
type generator struct {
	rng       *rand.Rand
	customers []customer
	addresses []address
	clock     time.Time
	next      int
}

// numCustomers is the size of the generated customer base; each
// customer's id is the routing key of their orders.
const numCustomers = 400

func newGenerator(seed uint64) *generator {
	g := &generator{
		rng:   rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)),
		clock: time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC),
	}
	for i := range numCustomers {
		first := firstNames[g.rng.IntN(len(firstNames))]
		last := lastNames[g.rng.IntN(len(lastNames))]
		place := places[g.rng.IntN(len(places))]
		place.Street = fmt.Sprintf("%s %d", streets[g.rng.IntN(len(streets))], 1+g.rng.IntN(180))
		since := g.clock.AddDate(0, 0, -g.rng.IntN(5*365))
		g.customers = append(g.customers, customer{
			ID:    fmt.Sprintf("CUST-%05d", i+1),
			Name:  first + " " + last,
			Email: fmt.Sprintf("%s.%s%d@example.com", asciiLower(first), asciiLower(last), i+1),
			Tier:  tiers[g.rng.IntN(len(tiers))],
			Since: dateOf(since),
		})
		g.addresses = append(g.addresses, place)
	}
	return g
}

// order returns the next order and its customer's id, the routing key.
func (g *generator) order() ([]byte, string) {
	g.next++
	g.clock = g.clock.Add(time.Duration(200+g.rng.IntN(4000)) * time.Millisecond)
	c := g.rng.IntN(len(g.customers))
	cust := g.customers[c]

	o := order{
		OrderID:  fmt.Sprintf("ORD-%07d", g.next),
		PlacedAt: dateOf(g.clock),
		Status:   "paid",
		Channel:  channels[g.rng.IntN(len(channels))],
		Customer: cust,
		Currency: "EUR",
		Tags:     []string{},
	}
	for range 1 + g.rng.IntN(4) {
		p := catalogue[g.rng.IntN(len(catalogue))]
		it := item{SKU: p.sku, Name: p.name, Category: p.category, Quantity: 1 + g.rng.IntN(3), UnitPriceCents: p.priceCents}
		o.Items = append(o.Items, it)
		o.SubtotalCents += it.Quantity * it.UnitPriceCents
	}

	o.ShippingCents = 495
	if o.SubtotalCents >= 5000 || cust.Tier == "gold" {
		o.ShippingCents = 0
		o.Tags = append(o.Tags, "free_shipping")
	}
	if g.rng.IntN(10) == 0 {
		code := coupons[g.rng.IntN(len(coupons))]
		o.Coupon = &code
		o.SubtotalCents -= o.SubtotalCents / 10
		o.Tags = append(o.Tags, "coupon")
	}
	o.TaxCents = o.SubtotalCents * 21 / 121 // VAT included in the prices, at 21%
	o.TotalCents = o.SubtotalCents + o.ShippingCents

	o.Payment = payment{Method: methods[g.rng.IntN(len(methods))], Authorized: true}
	if o.Payment.Method == "card" {
		o.Payment.CardLast4 = fmt.Sprintf("%04d", g.rng.IntN(10000))
	}
	o.Shipping = shipping{Method: "standard", Address: g.addresses[c], Promise: dateOf(g.clock.AddDate(0, 0, 3))}
	if g.rng.IntN(5) == 0 {
		o.Shipping.Method = "express"
		o.Shipping.Promise = dateOf(g.clock.AddDate(0, 0, 1))
		o.Tags = append(o.Tags, "express")
	}
	if o.Channel == "store" {
		o.Tags = append(o.Tags, "click_and_collect")
	}

	payload, err := json.Marshal(o)
	if err != nil {
		panic(err) // every field of order marshals
	}
	return payload, cust.ID
}

// invalidPayload returns a payload that the sink cannot store: it has a
// top-level field name that starts with '$', which MongoDB reserves for
// operators. The sink sends such a record to the dead-letter topic.
func invalidPayload(n int) []byte {
	return fmt.Appendf(nil, `{"$op":"replay","order_id":"BROKEN-%d","note":"a top-level field starting with '$' is not a valid document"}`, n)
}

// asciiLower returns the lower case of s with letters outside ASCII
// dropped, for e-mail addresses.
func asciiLower(s string) string {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		switch {
		case r >= 'A' && r <= 'Z':
			out = append(out, byte(r-'A'+'a'))
		case r >= 'a' && r <= 'z':
			out = append(out, byte(r))
		}
	}
	return string(out)
}
