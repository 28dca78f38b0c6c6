// This directory holds the scripted model answers of the URL shortener
// example (plan.json, tasks/*/files) and the cassette made from them. Its
// own module keeps those answer files out of the qlp build.
module qlp.example/url-shortener-script

go 1.22
