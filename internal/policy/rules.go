package policy

import (
	"regexp"
	"strings"
)

// rule is one built-in pattern. The rules look for intent (a verb and its
// object), never for a bare word: "kill", "attack", "die", "abort",
// "execute" and "payload" are everyday words of software, and the earlier
// QLP's word list blocked "kill the process" until it grew a list of
// exceptions. A rule with a guard skips a match whose surroundings say it
// is technical or defensive.
type rule struct {
	name       string
	category   Category
	severity   Severity
	confidence float64
	re         *regexp.Regexp
	// guard, when set, is matched against the text around the match
	// (guardWindow bytes either side): a hit means the match is not a
	// violation.
	guard *regexp.Regexp
}

// guardWindow is how far either side of a match a guard looks.
const guardWindow = 48

// technicalObject: what "kill", "terminate", "shoot" and friends act on in
// software. A violent verb next to one of these is about processes, not
// people.
var technicalObject = regexp.MustCompile(`\b(process(es)?|subprocess(es)?|pid|pids|thread|threads|goroutines?|signal|sig(kill|term|int)|jobs?|containers?|pods?|daemons?|workers?|tasks?|sessions?|connections?|quer(y|ies)|services?|servers?|nodes?|zombies?|child(ren)? process(es)?|parent process|request|requests|instances?|vms?|builds?|pipelines?|the test|tests|timers?|loop|cron)\b|-9\b|-\d+\b`)

// defensive: words that make talk of malware or phishing about detecting
// or preventing it.
var defensive = regexp.MustCompile(`\b(anti-?(virus|malware|phishing)|detect\w*|scanner|scans?|scanning|classif\w*|analy[sz]\w*|protect\w*|prevent\w*|defen[cs]\w*|against|quarantin\w*|remov\w*|block\w*|filter\w*|awareness|training|simulat\w*|honeypot|yara|sandbox\w*|recogni[sz]\w*|report\w*|flag\w*)\b`)

const (
	people      = `(my |the |a |his |her |their |our |your |all )?(wife|husband|girlfriend|boyfriend|neighbou?rs?|boss|teacher|president|people|person|someone|somebody|him|her|them|classmates?|co-?workers?|family|police|cops?|students?|judge|ex)`
	groups      = `(jews|muslims|christians|blacks|whites|gays|lesbians|trans people|immigrants|refugees|women|arabs|asians|mexicans|hindus|sikhs|catholics)`
	credentials = `(passwords?|credentials|login details|logins|session cookies|cookies|session tokens|auth tokens|api keys|private keys|credit card( numbers| details)?|bank details|2fa codes|otp codes|seed phrases?)`
	// Not bare "worm", "trojan" or "wiper": snake games, history lessons
	// and windscreens.
	malwareNoun = `(ransomware|keyloggers?|key loggers?|botnets?|rootkits?|computer virus(es)?|computer worms?|network worms?|spyware|info-?stealers?|password stealers?|remote access trojans?|trojan malware|cryptojackers?|disk wipers?|malware)`
)

func re(s string) *regexp.Regexp { return regexp.MustCompile(s) }

// rules are the built-in rules, most severe first within a category.
var rules = []rule{
	// Hate: calls to violence against a group, dehumanising a group.
	{name: "hate.violence_against_group", category: Hate, severity: Critical, confidence: 0.95,
		re: re(`\b(kill|exterminate|gas|eradicate|wipe out|get rid of|lynch)\s+(all\s+)?(the\s+)?` + groups + `\b`)},
	{name: "hate.dehumanising", category: Hate, severity: High, confidence: 0.9,
		re: re(`\b` + groups + `\s+(are|is)\s+(vermin|subhuman|animals|parasites|inferior|a disease|cockroaches|rats)\b`)},

	// Abuse: threats and insults aimed at a person, doxxing.
	{name: "abuse.threat", category: Abuse, severity: High, confidence: 0.9,
		re: re(`\b(i('ll| will| am going to|'m going to| want to)|we('ll| will))\s+(kill|hurt|rape|beat|stab|shoot)\s+you\b`)},
	{name: "abuse.doxxing", category: Abuse, severity: High, confidence: 0.85,
		re: re(`\b(dox|doxx|doxing|doxxing)\s+(him|her|them|someone|somebody|people|a person|users|my \w+)\b|\b(find|publish|leak)\s+(the\s+)?(home address|personal info\w*)\s+of\s+` + people + `\b`)},
	{name: "abuse.insult", category: Abuse, severity: Medium, confidence: 0.8,
		re: re(`\byou\s+(are\s+|'re\s+|r\s+)?(a\s+|an\s+|such a\s+)?(worthless|pathetic|stupid|fucking|useless|dumb|brainless)\s+(idiot|moron|piece of (shit|garbage|trash)|loser|bitch|retard|imbecile)\b`)},

	// Self-harm.
	{name: "self_harm.intent", category: SelfHarm, severity: High, confidence: 0.9,
		re: re(`\b(kill|hurt|harm|cut|hang|poison)\s+myself\b|\b(end|take)\s+my\s+(own\s+)?life\b|\bi\s+want\s+to\s+die\b`)},
	{name: "self_harm.instructions", category: SelfHarm, severity: Critical, confidence: 0.9,
		re: re(`\b(how to|ways to|best way to|help me)\s+(commit suicide|kill (myself|yourself)|self[- ]harm)\b|\bsuicide\s+(methods?|instructions)\b`)},

	// Violence against people.
	{name: "violence.weapon_instructions", category: Violence, severity: Critical, confidence: 0.9,
		re: re(`\b(make|build|assemble|construct|how to make)\s+(a\s+|an\s+)?(pipe\s+|nail\s+|car\s+)?(bomb|explosive device|ied|molotov( cocktail)?|nerve agent|chemical weapon)\b`)},
	{name: "violence.attack_place", category: Violence, severity: Critical, confidence: 0.9,
		re: re(`\b(attack|bomb|shoot up|blow up)\s+(a|the|our|my)\s+(school|church|mosque|synagogue|temple|hospital|crowd|concert|stadium)\b`)},
	{name: "violence.against_person", category: Violence, severity: High, confidence: 0.85,
		re:    re(`\b(kill|murder|shoot|stab|strangle|assassinate|poison|torture|behead)\s+` + people + `\b`),
		guard: technicalObject},

	// Sexual content; with minors, always critical.
	{name: "sexual.minors", category: Sexual, severity: Critical, confidence: 0.95,
		re: re(`\b(sexual\w*|nude|naked|porn\w*|erotic\w*)\b[^.\n]{0,30}\b(minors?|underage|(\d{1,2})[- ]year[- ]olds?|little (girls?|boys?))\b|\b(minors?|underage|little (girls?|boys?))\b[^.\n]{0,30}\b(sexual\w*|nude|naked|porn\w*|erotic\w*)\b`)},
	{name: "sexual.explicit", category: Sexual, severity: Medium, confidence: 0.8,
		re: re(`\b(porn|pornographic|hardcore sex|explicit sex\w*|sexually explicit)\b`), guard: defensive},

	// Malware intent: making it, or making it hide. Making tools that
	// detect, scan for or remove malware is fine (the guard).
	{name: "malware.ransom", category: Malware, severity: Critical, confidence: 0.9,
		re: re(`\bencrypt\w*\s+(all\s+)?(the\s+)?(victims?'?s?|users?'?s?|their|everyone'?s|people'?s)\s+files\b[^.\n]{0,80}\b(ransom|bitcoin|pay)\b|\b(demand|demands|demanding)\s+(a\s+)?ransom\b`)},
	{name: "malware.evasion", category: Malware, severity: High, confidence: 0.85,
		re: re(`\b(evade|evading|bypass|bypassing|disable|disabling|avoid|get past|hide from)\s+(the\s+)?(antivirus|anti-virus|av|edr|windows defender|defender|malware detection|virus scanners?)\b`)},
	{name: "malware.create", category: Malware, severity: High, confidence: 0.85,
		re:    re(`\b(write|create|build|make|develop|code|generate|program|craft)\b[^.\n]{0,40}?\b` + malwareNoun + `\b`),
		guard: defensive},
	{name: "malware.spread", category: Malware, severity: High, confidence: 0.8,
		re: re(`\b(self[- ]replicat\w*|spreads? (itself )?(to|across) (other )?(machines|computers|hosts))\b[^.\n]{0,60}\b(without|undetected|silently|infect\w*)\b|\binfect\w*\s+(other\s+)?(machines|computers|hosts|victims)\b`)},

	// Credential theft: taking other people's secrets.
	{name: "credential_theft.steal", category: CredentialTheft, severity: High, confidence: 0.85,
		re:    re(`\b(steal\w*|harvest\w*|exfiltrat\w*|phish\w*|siphon\w*)\b[^.\n]{0,40}?\b` + credentials + `\b`),
		guard: defensive},
	{name: "credential_theft.capture", category: CredentialTheft, severity: High, confidence: 0.8,
		re: re(`\b(dump\w*|sniff\w*|grab\w*|captur\w*|log\w*|record\w*|send\w*)\b[^.\n]{0,40}?\b` + credentials + `\b[^.\n]{0,40}?\b(victims?|other users|without (their|the user'?s|users'?) (knowledge|consent)|secretly|silently|lsass)\b`)},
	{name: "credential_theft.phishing_page", category: CredentialTheft, severity: High, confidence: 0.85,
		re:    re(`\b(phishing|fake login|credential harvesting)\s+(page|site|website|kit|email|form|campaign)\b|\b(clone|copy|mimic|imitate|spoof)\w*\s+(a |the )?\w*\s*(bank|paypal|google|microsoft|office 365|facebook|apple)?\s*login (page|form)\b[^.\n]{0,60}\b(capture|collect|send|steal|harvest)\w*`),
		guard: defensive},

	// Profanity: flagged, blocked only when a tenant denies it.
	{name: "profanity.strong", category: Profanity, severity: Medium, confidence: 0.9,
		re: re(`\b(cunts?|motherfuck\w*)\b`)},
	{name: "profanity.common", category: Profanity, severity: Low, confidence: 0.9,
		re: re(`\b(fuck\w*|shit|shitty|bullshit|bitch\w*|bastards?|assholes?|dickheads?|wankers?)\b`)},
}

var spaces = regexp.MustCompile(`\s+`)

// normalise lower-cases text and folds runs of white space, so that a
// rule's single spaces match line breaks and indentation too.
func normalise(text string) string {
	return spaces.ReplaceAllString(strings.ToLower(text), " ")
}

// Scan runs the built-in rules over text and returns one finding per rule
// that matched outside a guard.
func Scan(text string) []Finding {
	s := normalise(text)
	var out []Finding
	for _, r := range rules {
		for _, m := range r.re.FindAllStringIndex(s, -1) {
			if r.guard != nil && r.guard.MatchString(s[max(0, m[0]-guardWindow):min(len(s), m[1]+guardWindow)]) {
				continue
			}
			out = append(out, Finding{Category: r.category, Severity: r.severity, Source: "rules", Rule: r.name, Confidence: r.confidence})
			break
		}
	}
	return out
}
