/**
 * Word lists and sentence templates for the demo marketplace, in the five languages demo
 * listings are written in. Descriptions are assembled from a bounded set of sentences per
 * category and language (a few thousand variants each), which reads naturally at demo scale
 * and lets the generator compute each distinct text's search vector once.
 */

export const LANGUAGES = ['en', 'es', 'fr', 'de', 'pt'] as const;
export type Language = (typeof LANGUAGES)[number];

/** One phrase per language, in LANGUAGES order. */
type Phrase = readonly [en: string, es: string, fr: string, de: string, pt: string];

export function languageIndex(language: Language): number {
  return LANGUAGES.indexOf(language);
}

export interface CategoryContent {
  readonly slug: string;
  /** The person: Plumber, Fontanero… */
  readonly pro: Phrase;
  /** The trade: Plumbing, Fontanería… */
  readonly field: Phrase;
  /** Five services per language, index-aligned across languages. */
  readonly services: readonly [Phrase, Phrase, Phrase, Phrase, Phrase];
  /** Hourly rate range in US dollars, when the trade bills by the hour. */
  readonly hourly?: readonly [number, number];
  /** Fixed price range in US dollars, when it quotes per job. */
  readonly fixed?: readonly [number, number];
  /** Typical job length in minutes. */
  readonly minutes: readonly [number, number];
  readonly where: 'on_site' | 'remote' | 'both' | 'mixed';
  /** Tag slugs that suit the trade (seeded tags). */
  readonly tags: readonly string[];
}

const p = (en: string, es: string, fr: string, de: string, pt: string): Phrase => [en, es, fr, de, pt];

export const CATEGORIES: readonly CategoryContent[] = [
  {
    slug: 'plumbing',
    pro: p('Plumber', 'Fontanero', 'Plombier', 'Klempner', 'Encanador'),
    field: p('Plumbing', 'Fontanería', 'Plomberie', 'Sanitärinstallation', 'Encanamento'),
    services: [
      p(
        'leak repair',
        'reparación de fugas',
        'réparation de fuites',
        'Leckortung und Reparatur',
        'conserto de vazamentos',
      ),
      p('drain unclogging', 'desatascos', 'débouchage de canalisations', 'Rohrreinigung', 'desentupimento'),
      p(
        'water heater installation',
        'instalación de calentadores',
        'installation de chauffe-eau',
        'Boilerinstallation',
        'instalação de aquecedores',
      ),
      p('toilet repair', 'reparación de inodoros', 'réparation de WC', 'WC-Reparatur', 'conserto de vasos sanitários'),
      p('pipe replacement', 'cambio de tuberías', 'remplacement de tuyaux', 'Rohraustausch', 'troca de canos'),
    ],
    hourly: [70, 140],
    fixed: [90, 400],
    minutes: [60, 180],
    where: 'on_site',
    tags: ['emergency', 'licensed', 'insured', 'same-day', 'free-estimate', 'around-the-clock'],
  },
  {
    slug: 'electrical',
    pro: p('Electrician', 'Electricista', 'Électricien', 'Elektriker', 'Eletricista'),
    field: p('Electrical work', 'Electricidad', 'Électricité', 'Elektroarbeiten', 'Serviços elétricos'),
    services: [
      p(
        'outlet and switch repair',
        'reparación de enchufes',
        'réparation de prises',
        'Steckdosenreparatur',
        'conserto de tomadas',
      ),
      p(
        'lighting installation',
        'instalación de iluminación',
        'installation de luminaires',
        'Lampeninstallation',
        'instalação de iluminação',
      ),
      p(
        'panel upgrades',
        'cambio de cuadro eléctrico',
        'mise aux normes du tableau',
        'Sicherungskasten-Erneuerung',
        'troca de quadro elétrico',
      ),
      p(
        'EV charger installation',
        'instalación de cargadores para coches eléctricos',
        'installation de bornes de recharge',
        'Wallbox-Installation',
        'instalação de carregadores para carros elétricos',
      ),
      p(
        'safety inspections',
        'revisiones de seguridad',
        'diagnostics de sécurité',
        'E-Check',
        'inspeções de segurança',
      ),
    ],
    hourly: [75, 150],
    fixed: [100, 450],
    minutes: [60, 180],
    where: 'on_site',
    tags: ['licensed', 'insured', 'emergency', 'same-day', 'free-estimate'],
  },
  {
    slug: 'house-cleaning',
    pro: p('House cleaner', 'Limpiador', "Agent d'entretien", 'Reinigungskraft', 'Diarista'),
    field: p('House cleaning', 'Limpieza del hogar', 'Ménage', 'Haushaltsreinigung', 'Limpeza residencial'),
    services: [
      p('deep cleaning', 'limpieza a fondo', 'grand ménage', 'Grundreinigung', 'faxina completa'),
      p(
        'move-out cleaning',
        'limpieza de fin de alquiler',
        'ménage de fin de bail',
        'Endreinigung beim Auszug',
        'limpeza pós-mudança',
      ),
      p('weekly cleaning', 'limpieza semanal', 'ménage hebdomadaire', 'wöchentliche Reinigung', 'limpeza semanal'),
      p('window cleaning', 'limpieza de cristales', 'nettoyage des vitres', 'Fensterputzen', 'limpeza de vidros'),
      p('oven cleaning', 'limpieza de hornos', 'nettoyage du four', 'Backofenreinigung', 'limpeza de forno'),
    ],
    hourly: [30, 60],
    fixed: [90, 300],
    minutes: [120, 240],
    where: 'on_site',
    tags: ['eco-friendly', 'pet-friendly', 'insured', 'weekend', 'background-checked'],
  },
  {
    slug: 'handyman',
    pro: p('Handyman', 'Manitas', 'Homme à tout faire', 'Hausmeisterservice', 'Faz-tudo'),
    field: p(
      'Home repairs',
      'Reparaciones del hogar',
      'Petits travaux',
      'Reparaturen rund ums Haus',
      'Pequenos reparos',
    ),
    services: [
      p('furniture assembly', 'montaje de muebles', 'montage de meubles', 'Möbelmontage', 'montagem de móveis'),
      p('TV mounting', 'instalación de televisores', 'fixation de télévision', 'TV-Wandmontage', 'instalação de TV'),
      p(
        'shelf installation',
        'colocación de estanterías',
        "pose d'étagères",
        'Regalmontage',
        'instalação de prateleiras',
      ),
      p('door repair', 'reparación de puertas', 'réparation de portes', 'Türreparatur', 'conserto de portas'),
      p(
        'drywall patching',
        'reparación de pladur',
        'rebouchage de placo',
        'Trockenbau-Ausbesserung',
        'reparos em drywall',
      ),
    ],
    hourly: [45, 90],
    fixed: [60, 250],
    minutes: [60, 180],
    where: 'on_site',
    tags: ['free-estimate', 'same-day', 'senior-discount', 'insured', 'weekend', 'veteran-owned'],
  },
  {
    slug: 'painting',
    pro: p('Painter', 'Pintor', 'Peintre', 'Maler', 'Pintor'),
    field: p('Painting', 'Pintura', 'Peinture', 'Malerarbeiten', 'Pintura'),
    services: [
      p('interior painting', 'pintura de interiores', 'peinture intérieure', 'Innenanstrich', 'pintura interna'),
      p('exterior painting', 'pintura de fachadas', 'ravalement de façade', 'Fassadenanstrich', 'pintura de fachada'),
      p(
        'wallpaper removal',
        'retirada de papel pintado',
        'décollage de papier peint',
        'Tapetenentfernung',
        'remoção de papel de parede',
      ),
      p(
        'cabinet refinishing',
        'lacado de muebles de cocina',
        'rénovation de cuisine',
        'Küchenfronten lackieren',
        'renovação de armários',
      ),
      p('deck staining', 'barnizado de terrazas', 'lasure de terrasse', 'Terrassenlasur', 'tratamento de decks'),
    ],
    hourly: [45, 85],
    fixed: [300, 2500],
    minutes: [180, 480],
    where: 'on_site',
    tags: ['free-estimate', 'insured', 'eco-friendly', 'family-owned'],
  },
  {
    slug: 'gardening',
    pro: p('Gardener', 'Jardinero', 'Jardinier', 'Gärtner', 'Jardineiro'),
    field: p(
      'Gardening & landscaping',
      'Jardinería',
      'Jardinage',
      'Garten- und Landschaftsbau',
      'Jardinagem e paisagismo',
    ),
    services: [
      p('lawn mowing', 'corte de césped', 'tonte de pelouse', 'Rasenmähen', 'corte de grama'),
      p('hedge trimming', 'poda de setos', 'taille de haies', 'Heckenschnitt', 'poda de cercas vivas'),
      p('garden design', 'diseño de jardines', 'création de jardins', 'Gartengestaltung', 'projeto de jardins'),
      p('leaf removal', 'recogida de hojas', 'ramassage des feuilles', 'Laubentfernung', 'remoção de folhas'),
      p(
        'irrigation setup',
        'instalación de riego',
        "installation d'arrosage",
        'Bewässerungsanlagen',
        'instalação de irrigação',
      ),
    ],
    hourly: [35, 70],
    fixed: [60, 400],
    minutes: [60, 240],
    where: 'on_site',
    tags: ['eco-friendly', 'weekend', 'family-owned', 'free-estimate'],
  },
  {
    slug: 'moving',
    pro: p('Mover', 'Ayudante de mudanzas', 'Déménageur', 'Umzugshelfer', 'Ajudante de mudança'),
    field: p('Moving help', 'Mudanzas', 'Déménagement', 'Umzugshilfe', 'Mudanças'),
    services: [
      p(
        'loading and unloading',
        'carga y descarga',
        'chargement et déchargement',
        'Be- und Entladen',
        'carga e descarga',
      ),
      p('packing services', 'embalaje', 'emballage', 'Packservice', 'embalagem'),
      p('furniture moving', 'traslado de muebles', 'transport de meubles', 'Möbeltransport', 'transporte de móveis'),
      p('small moves', 'mudanzas pequeñas', 'petits déménagements', 'Kleinumzüge', 'pequenas mudanças'),
      p('junk removal', 'retirada de trastos', 'débarras', 'Entrümpelung', 'remoção de entulho'),
    ],
    hourly: [40, 90],
    fixed: [150, 900],
    minutes: [120, 360],
    where: 'on_site',
    tags: ['same-day', 'weekend', 'insured', 'veteran-owned'],
  },
  {
    slug: 'pest-control',
    pro: p(
      'Pest control technician',
      'Técnico de control de plagas',
      'Technicien antiparasitaire',
      'Schädlingsbekämpfer',
      'Dedetizador',
    ),
    field: p(
      'Pest control',
      'Control de plagas',
      'Lutte antiparasitaire',
      'Schädlingsbekämpfung',
      'Controle de pragas',
    ),
    services: [
      p(
        'ant treatment',
        'tratamiento contra hormigas',
        'traitement contre les fourmis',
        'Ameisenbekämpfung',
        'controle de formigas',
      ),
      p('rodent control', 'control de roedores', 'dératisation', 'Nagerbekämpfung', 'desratização'),
      p(
        'bed bug removal',
        'eliminación de chinches',
        'traitement des punaises de lit',
        'Bettwanzenbeseitigung',
        'eliminação de percevejos',
      ),
      p(
        'wasp nest removal',
        'retirada de avisperos',
        'destruction de nids de guêpes',
        'Wespennestentfernung',
        'remoção de ninhos de vespas',
      ),
      p(
        'termite inspection',
        'inspección de termitas',
        'diagnostic termites',
        'Termiteninspektion',
        'inspeção de cupins',
      ),
    ],
    fixed: [90, 350],
    minutes: [60, 120],
    where: 'on_site',
    tags: ['licensed', 'eco-friendly', 'emergency', 'pet-friendly'],
  },
  {
    slug: 'appliance-repair',
    pro: p(
      'Appliance technician',
      'Técnico de electrodomésticos',
      'Réparateur électroménager',
      'Hausgeräte-Techniker',
      'Técnico de eletrodomésticos',
    ),
    field: p(
      'Appliance repair',
      'Reparación de electrodomésticos',
      "Réparation d'électroménager",
      'Hausgerätereparatur',
      'Conserto de eletrodomésticos',
    ),
    services: [
      p(
        'washing machine repair',
        'reparación de lavadoras',
        'réparation de lave-linge',
        'Waschmaschinenreparatur',
        'conserto de máquinas de lavar',
      ),
      p(
        'fridge repair',
        'reparación de frigoríficos',
        'réparation de réfrigérateur',
        'Kühlschrankreparatur',
        'conserto de geladeiras',
      ),
      p(
        'dishwasher repair',
        'reparación de lavavajillas',
        'réparation de lave-vaisselle',
        'Geschirrspülerreparatur',
        'conserto de lava-louças',
      ),
      p(
        'dryer repair',
        'reparación de secadoras',
        'réparation de sèche-linge',
        'Trocknerreparatur',
        'conserto de secadoras',
      ),
      p('oven repair', 'reparación de hornos', 'réparation de four', 'Backofenreparatur', 'conserto de fornos'),
    ],
    hourly: [60, 120],
    fixed: [80, 250],
    minutes: [60, 120],
    where: 'on_site',
    tags: ['same-day', 'licensed', 'free-estimate'],
  },
  {
    slug: 'hvac',
    pro: p('HVAC technician', 'Técnico de climatización', 'Chauffagiste', 'Heizungsbauer', 'Técnico de climatização'),
    field: p(
      'Heating & cooling',
      'Climatización',
      'Chauffage et climatisation',
      'Heizung und Klima',
      'Aquecimento e ar-condicionado',
    ),
    services: [
      p(
        'AC installation',
        'instalación de aire acondicionado',
        'installation de climatisation',
        'Klimaanlagen-Installation',
        'instalação de ar-condicionado',
      ),
      p(
        'furnace repair',
        'reparación de calefacción',
        'dépannage de chauffage',
        'Heizungsreparatur',
        'conserto de aquecimento',
      ),
      p('boiler servicing', 'revisión de calderas', 'entretien de chaudière', 'Thermenwartung', 'revisão de caldeiras'),
      p(
        'heat pump maintenance',
        'mantenimiento de bombas de calor',
        'maintenance de pompe à chaleur',
        'Wärmepumpen-Wartung',
        'manutenção de bombas de calor',
      ),
      p('duct cleaning', 'limpieza de conductos', 'nettoyage de gaines', 'Lüftungsreinigung', 'limpeza de dutos'),
    ],
    hourly: [80, 160],
    fixed: [120, 600],
    minutes: [60, 240],
    where: 'on_site',
    tags: ['licensed', 'insured', 'emergency', 'around-the-clock'],
  },
  {
    slug: 'hair-beauty',
    pro: p('Hairstylist', 'Peluquero', 'Coiffeur', 'Friseur', 'Cabeleireiro'),
    field: p('Hair & beauty', 'Peluquería y belleza', 'Coiffure et beauté', 'Friseur und Kosmetik', 'Cabelo e beleza'),
    services: [
      p('haircuts', 'cortes de pelo', 'coupes', 'Haarschnitte', 'cortes de cabelo'),
      p('hair coloring', 'coloración', 'coloration', 'Haarfärben', 'coloração'),
      p('blow-dry styling', 'peinados', 'brushing', 'Föhnfrisuren', 'escova'),
      p('bridal makeup', 'maquillaje de novia', 'maquillage de mariée', 'Braut-Make-up', 'maquiagem para noivas'),
      p('manicure', 'manicura', 'manucure', 'Maniküre', 'manicure'),
    ],
    fixed: [30, 150],
    minutes: [45, 120],
    where: 'on_site',
    tags: ['weekend', 'women-owned', 'same-day', 'bilingual'],
  },
  {
    slug: 'massage',
    pro: p('Massage therapist', 'Masajista', 'Masseur', 'Masseur', 'Massoterapeuta'),
    field: p('Massage', 'Masajes', 'Massage', 'Massage', 'Massagem'),
    services: [
      p(
        'deep tissue massage',
        'masaje de tejido profundo',
        'massage des tissus profonds',
        'Tiefengewebsmassage',
        'massagem de tecido profundo',
      ),
      p('Swedish massage', 'masaje sueco', 'massage suédois', 'schwedische Massage', 'massagem sueca'),
      p('sports massage', 'masaje deportivo', 'massage sportif', 'Sportmassage', 'massagem esportiva'),
      p(
        'prenatal massage',
        'masaje prenatal',
        'massage prénatal',
        'Schwangerschaftsmassage',
        'massagem para gestantes',
      ),
      p(
        'hot stone massage',
        'masaje con piedras calientes',
        'massage aux pierres chaudes',
        'Hot-Stone-Massage',
        'massagem com pedras quentes',
      ),
    ],
    hourly: [70, 140],
    fixed: [70, 160],
    minutes: [60, 90],
    where: 'on_site',
    tags: ['licensed', 'women-owned', 'weekend'],
  },
  {
    slug: 'personal-training',
    pro: p('Personal trainer', 'Entrenador personal', 'Coach sportif', 'Personal Trainer', 'Personal trainer'),
    field: p(
      'Personal training',
      'Entrenamiento personal',
      'Coaching sportif',
      'Personal Training',
      'Treino personalizado',
    ),
    services: [
      p('strength training', 'entrenamiento de fuerza', 'renforcement musculaire', 'Krafttraining', 'treino de força'),
      p('weight loss coaching', 'programas para perder peso', 'coaching minceur', 'Abnehm-Coaching', 'emagrecimento'),
      p('HIIT workouts', 'entrenamientos HIIT', 'séances HIIT', 'HIIT-Workouts', 'treinos HIIT'),
      p(
        'mobility training',
        'trabajo de movilidad',
        'travail de mobilité',
        'Mobilitätstraining',
        'treino de mobilidade',
      ),
      p(
        'marathon preparation',
        'preparación para maratón',
        'préparation marathon',
        'Marathonvorbereitung',
        'preparação para maratona',
      ),
    ],
    hourly: [50, 120],
    minutes: [60, 90],
    where: 'both',
    tags: ['beginner-friendly', 'group-sessions', 'online', 'weekend'],
  },
  {
    slug: 'yoga',
    pro: p('Yoga teacher', 'Profesor de yoga', 'Professeur de yoga', 'Yogalehrer', 'Professor de ioga'),
    field: p('Yoga', 'Yoga', 'Yoga', 'Yoga', 'Ioga'),
    services: [
      p('vinyasa flow', 'vinyasa flow', 'vinyasa flow', 'Vinyasa Flow', 'vinyasa flow'),
      p('hatha yoga', 'hatha yoga', 'hatha yoga', 'Hatha Yoga', 'hatha ioga'),
      p('prenatal yoga', 'yoga prenatal', 'yoga prénatal', 'Schwangerschaftsyoga', 'ioga para gestantes'),
      p(
        'yoga for back pain',
        'yoga para el dolor de espalda',
        'yoga pour le mal de dos',
        'Yoga bei Rückenschmerzen',
        'ioga para dor nas costas',
      ),
      p('guided meditation', 'meditación guiada', 'méditation guidée', 'geführte Meditation', 'meditação guiada'),
    ],
    hourly: [40, 100],
    minutes: [60, 90],
    where: 'both',
    tags: ['beginner-friendly', 'group-sessions', 'online', 'women-owned'],
  },
  {
    slug: 'tutoring',
    pro: p('Tutor', 'Profesor particular', 'Professeur particulier', 'Nachhilfelehrer', 'Professor particular'),
    field: p('Academic tutoring', 'Clases particulares', 'Soutien scolaire', 'Nachhilfe', 'Aulas particulares'),
    services: [
      p('math tutoring', 'clases de matemáticas', 'cours de maths', 'Mathe-Nachhilfe', 'aulas de matemática'),
      p('chemistry help', 'apoyo en química', 'soutien en chimie', 'Chemie-Nachhilfe', 'reforço de química'),
      p(
        'SAT preparation',
        'preparación de selectividad',
        'préparation au bac',
        'Abiturvorbereitung',
        'preparação para o vestibular',
      ),
      p('essay writing', 'redacción académica', 'méthodologie de la dissertation', 'Aufsatztraining', 'redação'),
      p('physics tutoring', 'clases de física', 'cours de physique', 'Physik-Nachhilfe', 'aulas de física'),
    ],
    hourly: [30, 90],
    minutes: [60, 120],
    where: 'mixed',
    tags: ['online', 'beginner-friendly', 'bilingual', 'group-sessions'],
  },
  {
    slug: 'music-lessons',
    pro: p('Music teacher', 'Profesor de música', 'Professeur de musique', 'Musiklehrer', 'Professor de música'),
    field: p('Music lessons', 'Clases de música', 'Cours de musique', 'Musikunterricht', 'Aulas de música'),
    services: [
      p('piano lessons', 'clases de piano', 'cours de piano', 'Klavierunterricht', 'aulas de piano'),
      p('guitar lessons', 'clases de guitarra', 'cours de guitare', 'Gitarrenunterricht', 'aulas de violão'),
      p('singing lessons', 'clases de canto', 'cours de chant', 'Gesangsunterricht', 'aulas de canto'),
      p('drum lessons', 'clases de batería', 'cours de batterie', 'Schlagzeugunterricht', 'aulas de bateria'),
      p('music theory', 'teoría musical', 'solfège', 'Musiktheorie', 'teoria musical'),
    ],
    hourly: [35, 90],
    minutes: [45, 90],
    where: 'both',
    tags: ['beginner-friendly', 'online', 'weekend'],
  },
  {
    slug: 'language-lessons',
    pro: p('Language teacher', 'Profesor de idiomas', 'Professeur de langues', 'Sprachlehrer', 'Professor de idiomas'),
    field: p('Language lessons', 'Clases de idiomas', 'Cours de langues', 'Sprachunterricht', 'Aulas de idiomas'),
    services: [
      p(
        'English conversation',
        'conversación en inglés',
        'conversation anglaise',
        'Englisch-Konversation',
        'conversação em inglês',
      ),
      p(
        'Spanish for beginners',
        'español para principiantes',
        'espagnol pour débutants',
        'Spanisch für Anfänger',
        'espanhol para iniciantes',
      ),
      p(
        'business French',
        'francés de negocios',
        'français des affaires',
        'Business-Französisch',
        'francês para negócios',
      ),
      p('German grammar', 'gramática alemana', 'grammaire allemande', 'deutsche Grammatik', 'gramática alemã'),
      p(
        'exam preparation',
        'preparación de exámenes oficiales',
        'préparation aux examens',
        'Prüfungsvorbereitung',
        'preparação para exames',
      ),
    ],
    hourly: [25, 70],
    minutes: [45, 90],
    where: 'mixed',
    tags: ['online', 'bilingual', 'beginner-friendly', 'group-sessions'],
  },
  {
    slug: 'dog-walking',
    pro: p('Dog walker', 'Paseador de perros', 'Promeneur de chiens', 'Hundesitter', 'Passeador de cães'),
    field: p('Dog walking', 'Paseo de perros', 'Promenade de chiens', 'Gassi-Service', 'Passeio com cães'),
    services: [
      p(
        '30-minute walks',
        'paseos de 30 minutos',
        'promenades de 30 minutes',
        '30-Minuten-Runden',
        'passeios de 30 minutos',
      ),
      p(
        'hour-long adventures',
        'paseos de una hora',
        "balades d'une heure",
        'einstündige Touren',
        'passeios de uma hora',
      ),
      p('puppy visits', 'visitas para cachorros', 'visites pour chiots', 'Welpenbesuche', 'visitas para filhotes'),
      p('group walks', 'paseos en grupo', 'promenades en groupe', 'Gruppenspaziergänge', 'passeios em grupo'),
      p(
        'weekend walks',
        'paseos de fin de semana',
        'promenades le week-end',
        'Wochenend-Gassi',
        'passeios de fim de semana',
      ),
    ],
    hourly: [18, 35],
    fixed: [15, 40],
    minutes: [30, 60],
    where: 'on_site',
    tags: ['pet-friendly', 'weekend', 'insured', 'background-checked'],
  },
  {
    slug: 'pet-sitting',
    pro: p('Pet sitter', 'Cuidador de mascotas', 'Pet-sitter', 'Tiersitter', 'Pet sitter'),
    field: p('Pet sitting', 'Cuidado de mascotas', "Garde d'animaux", 'Tierbetreuung', 'Cuidado de pets'),
    services: [
      p('overnight stays', 'estancias nocturnas', 'garde de nuit', 'Übernachtbetreuung', 'pernoites'),
      p('drop-in visits', 'visitas a domicilio', 'visites à domicile', 'Hausbesuche', 'visitas em casa'),
      p('cat sitting', 'cuidado de gatos', 'garde de chats', 'Katzenbetreuung', 'cuidado de gatos'),
      p(
        'medication administration',
        'administración de medicación',
        'administration de médicaments',
        'Medikamentengabe',
        'administração de remédios',
      ),
      p('house sitting', 'cuidado de la casa', 'surveillance de la maison', 'Haushüten', 'cuidado da casa'),
    ],
    fixed: [25, 90],
    minutes: [30, 120],
    where: 'on_site',
    tags: ['pet-friendly', 'weekend', 'background-checked'],
  },
  {
    slug: 'pet-grooming',
    pro: p('Pet groomer', 'Peluquero canino', 'Toiletteur', 'Hundefriseur', 'Tosador'),
    field: p('Pet grooming', 'Peluquería canina', 'Toilettage', 'Hundepflege', 'Banho e tosa'),
    services: [
      p('bath and brush', 'baño y cepillado', 'bain et brossage', 'Baden und Bürsten', 'banho e escovação'),
      p('full groom', 'arreglo completo', 'toilettage complet', 'Komplettpflege', 'tosa completa'),
      p('nail trimming', 'corte de uñas', 'coupe des griffes', 'Krallenschneiden', 'corte de unhas'),
      p(
        'de-shedding treatment',
        'tratamiento antimuda',
        'soin anti-mue',
        'Unterwolle entfernen',
        'tratamento contra queda de pelos',
      ),
      p(
        "puppy's first groom",
        'primer corte para cachorros',
        'premier toilettage du chiot',
        'erster Welpenschnitt',
        'primeira tosa do filhote',
      ),
    ],
    fixed: [40, 120],
    minutes: [60, 120],
    where: 'on_site',
    tags: ['pet-friendly', 'eco-friendly', 'same-day'],
  },
  {
    slug: 'computer-repair',
    pro: p(
      'Computer technician',
      'Técnico informático',
      'Dépanneur informatique',
      'PC-Techniker',
      'Técnico de informática',
    ),
    field: p(
      'Computer repair',
      'Reparación de ordenadores',
      'Dépannage informatique',
      'Computerreparatur',
      'Conserto de computadores',
    ),
    services: [
      p('virus removal', 'eliminación de virus', 'suppression de virus', 'Virenentfernung', 'remoção de vírus'),
      p(
        'laptop screen replacement',
        'cambio de pantallas de portátil',
        "remplacement d'écran de portable",
        'Laptop-Displaytausch',
        'troca de tela de notebook',
      ),
      p('data recovery', 'recuperación de datos', 'récupération de données', 'Datenrettung', 'recuperação de dados'),
      p('PC upgrades', 'ampliación de equipos', 'mise à niveau de PC', 'PC-Aufrüstung', 'upgrade de PC'),
      p(
        'Wi-Fi troubleshooting',
        'solución de problemas de wifi',
        'dépannage wifi',
        'WLAN-Probleme beheben',
        'solução de problemas de wi-fi',
      ),
    ],
    hourly: [50, 110],
    fixed: [60, 250],
    minutes: [60, 120],
    where: 'both',
    tags: ['same-day', 'online', 'free-estimate'],
  },
  {
    slug: 'phone-repair',
    pro: p(
      'Phone repair technician',
      'Técnico de móviles',
      'Réparateur de smartphones',
      'Handy-Techniker',
      'Técnico de celulares',
    ),
    field: p(
      'Phone repair',
      'Reparación de móviles',
      'Réparation de smartphones',
      'Handyreparatur',
      'Conserto de celulares',
    ),
    services: [
      p('screen replacement', 'cambio de pantalla', "remplacement d'écran", 'Displaytausch', 'troca de tela'),
      p('battery replacement', 'cambio de batería', 'remplacement de batterie', 'Akkutausch', 'troca de bateria'),
      p(
        'charging port repair',
        'reparación del conector de carga',
        'réparation du connecteur de charge',
        'Ladebuchse reparieren',
        'conserto do conector de carga',
      ),
      p(
        'water damage repair',
        'reparación por daños de agua',
        'réparation après dégât des eaux',
        'Wasserschaden-Reparatur',
        'reparo de danos por água',
      ),
      p('camera repair', 'reparación de cámara', 'réparation de caméra', 'Kamerareparatur', 'conserto de câmera'),
    ],
    fixed: [50, 250],
    minutes: [30, 90],
    where: 'on_site',
    tags: ['same-day', 'free-estimate'],
  },
  {
    slug: 'smart-home',
    pro: p(
      'Smart home installer',
      'Instalador domótico',
      'Installateur domotique',
      'Smart-Home-Installateur',
      'Instalador de casa inteligente',
    ),
    field: p('Smart home setup', 'Domótica', 'Domotique', 'Smart-Home-Einrichtung', 'Automação residencial'),
    services: [
      p(
        'smart thermostat setup',
        'instalación de termostatos inteligentes',
        'installation de thermostat connecté',
        'smarte Thermostate',
        'instalação de termostatos inteligentes',
      ),
      p('video doorbell installation', 'videoporteros', 'sonnette vidéo', 'Video-Türklingeln', 'campainhas com vídeo'),
      p('mesh Wi-Fi setup', 'redes wifi mesh', 'wifi maillé', 'Mesh-WLAN', 'redes wi-fi mesh'),
      p(
        'smart lighting',
        'iluminación inteligente',
        'éclairage connecté',
        'smarte Beleuchtung',
        'iluminação inteligente',
      ),
      p(
        'home security cameras',
        'cámaras de seguridad',
        'caméras de surveillance',
        'Überwachungskameras',
        'câmeras de segurança',
      ),
    ],
    hourly: [60, 120],
    fixed: [100, 500],
    minutes: [60, 180],
    where: 'on_site',
    tags: ['licensed', 'free-estimate', 'insured'],
  },
  {
    slug: 'photography',
    pro: p('Photographer', 'Fotógrafo', 'Photographe', 'Fotograf', 'Fotógrafo'),
    field: p('Photography', 'Fotografía', 'Photographie', 'Fotografie', 'Fotografia'),
    services: [
      p('portrait sessions', 'sesiones de retrato', 'séances portrait', 'Porträtshootings', 'ensaios de retrato'),
      p(
        'wedding photography',
        'fotografía de bodas',
        'photographie de mariage',
        'Hochzeitsfotografie',
        'fotografia de casamento',
      ),
      p('event coverage', 'cobertura de eventos', "reportage d'événements", 'Eventfotografie', 'cobertura de eventos'),
      p('product photos', 'fotografía de producto', 'photos de produits', 'Produktfotos', 'fotos de produtos'),
      p(
        'family photoshoots',
        'sesiones familiares',
        'séances photo en famille',
        'Familienshootings',
        'ensaios de família',
      ),
    ],
    hourly: [80, 250],
    fixed: [200, 2500],
    minutes: [60, 240],
    where: 'on_site',
    tags: ['weekend', 'women-owned', 'bilingual'],
  },
  {
    slug: 'catering',
    pro: p('Caterer', 'Servicio de catering', 'Traiteur', 'Caterer', 'Bufê'),
    field: p('Catering', 'Catering', 'Traiteur', 'Catering', 'Bufê'),
    services: [
      p(
        'corporate lunches',
        'comidas de empresa',
        "déjeuners d'entreprise",
        'Firmenmittagessen',
        'almoços corporativos',
      ),
      p('wedding catering', 'banquetes de boda', 'traiteur de mariage', 'Hochzeitscatering', 'bufê de casamento'),
      p('private dinners', 'cenas privadas', 'dîners privés', 'private Dinner', 'jantares privados'),
      p(
        'finger food platters',
        'bandejas de canapés',
        'plateaux apéritifs',
        'Fingerfood-Platten',
        'bandejas de salgados',
      ),
      p('vegan menus', 'menús veganos', 'menus végans', 'vegane Menüs', 'cardápios veganos'),
    ],
    fixed: [300, 5000],
    minutes: [180, 480],
    where: 'on_site',
    tags: ['weekend', 'family-owned', 'eco-friendly'],
  },
  {
    slug: 'dj',
    pro: p('DJ', 'DJ', 'DJ', 'DJ', 'DJ'),
    field: p('DJ services', 'Servicios de DJ', 'Animation DJ', 'DJ-Service', 'Serviços de DJ'),
    services: [
      p('wedding DJ', 'DJ para bodas', 'DJ de mariage', 'Hochzeits-DJ', 'DJ para casamentos'),
      p(
        'birthday parties',
        'fiestas de cumpleaños',
        "fêtes d'anniversaire",
        'Geburtstagsfeiern',
        'festas de aniversário',
      ),
      p('corporate events', 'eventos de empresa', "soirées d'entreprise", 'Firmenevents', 'eventos corporativos'),
      p(
        'sound system rental',
        'alquiler de equipo de sonido',
        'location de sonorisation',
        'Verleih von Tontechnik',
        'aluguel de som',
      ),
      p('lighting effects', 'efectos de iluminación', 'jeux de lumière', 'Lichteffekte', 'efeitos de iluminação'),
    ],
    hourly: [100, 250],
    fixed: [400, 2500],
    minutes: [180, 360],
    where: 'on_site',
    tags: ['weekend', 'bilingual'],
  },
  {
    slug: 'car-wash',
    pro: p('Mobile car detailer', 'Lavador de coches', 'Laveur auto', 'Autopfleger', 'Lavador de carros'),
    field: p(
      'Mobile car wash',
      'Lavado de coches a domicilio',
      'Lavage auto à domicile',
      'Mobile Autowäsche',
      'Lavagem automotiva a domicílio',
    ),
    services: [
      p(
        'exterior hand wash',
        'lavado exterior a mano',
        'lavage extérieur à la main',
        'Handwäsche außen',
        'lavagem externa à mão',
      ),
      p(
        'interior detailing',
        'limpieza de interiores',
        'nettoyage intérieur',
        'Innenraumaufbereitung',
        'higienização interna',
      ),
      p(
        'waxing and polishing',
        'encerado y pulido',
        'lustrage et polissage',
        'Wachsen und Polieren',
        'enceramento e polimento',
      ),
      p(
        'headlight restoration',
        'restauración de faros',
        'rénovation des phares',
        'Scheinwerferaufbereitung',
        'restauração de faróis',
      ),
      p('ceramic coating', 'tratamiento cerámico', 'traitement céramique', 'Keramikversiegelung', 'vitrificação'),
    ],
    fixed: [30, 250],
    minutes: [60, 180],
    where: 'on_site',
    tags: ['eco-friendly', 'same-day', 'weekend'],
  },
  {
    slug: 'mobile-mechanic',
    pro: p(
      'Mobile mechanic',
      'Mecánico a domicilio',
      'Mécanicien à domicile',
      'Mobiler Kfz-Mechaniker',
      'Mecânico a domicílio',
    ),
    field: p(
      'Mobile car repair',
      'Mecánica a domicilio',
      'Mécanique à domicile',
      'Mobile Kfz-Reparatur',
      'Mecânica a domicílio',
    ),
    services: [
      p('oil changes', 'cambios de aceite', 'vidange', 'Ölwechsel', 'troca de óleo'),
      p(
        'brake pad replacement',
        'cambio de pastillas de freno',
        'remplacement des plaquettes de frein',
        'Bremsbelagwechsel',
        'troca de pastilhas de freio',
      ),
      p('battery replacement', 'cambio de batería', 'remplacement de batterie', 'Batteriewechsel', 'troca de bateria'),
      p(
        'pre-purchase inspections',
        'revisiones precompra',
        'inspection avant achat',
        'Gebrauchtwagen-Check',
        'vistoria pré-compra',
      ),
      p('diagnostics', 'diagnosis electrónica', 'diagnostic électronique', 'Fehlerdiagnose', 'diagnóstico eletrônico'),
    ],
    hourly: [70, 130],
    fixed: [60, 400],
    minutes: [60, 180],
    where: 'on_site',
    tags: ['licensed', 'same-day', 'free-estimate', 'emergency'],
  },
];

/** For a category the content has no entry for (a tenant's own): built from its name. */
export function genericCategory(slug: string, name: string): CategoryContent {
  const services = p(name, name, name, name, name);
  return {
    slug,
    pro: p(
      `${name} pro`,
      `Profesional de ${name}`,
      `Professionnel ${name}`,
      `${name}-Profi`,
      `Profissional de ${name}`,
    ),
    field: services,
    services: [services, services, services, services, services],
    hourly: [40, 100],
    minutes: [60, 120],
    where: 'on_site',
    tags: ['free-estimate'],
  };
}

/** "Heating & cooling" inside a sentence; German nouns and acronyms (DJ, HVAC) keep their capital. */
export function inSentence(language: Language, text: string): string {
  if (language === 'de' || text.length < 2) return text;
  const second = text[1] as string;
  if (second !== second.toLowerCase()) return text;
  return (text[0] as string).toLowerCase() + text.slice(1);
}

export function capitalize(text: string): string {
  return text.length === 0 ? text : (text[0] as string).toUpperCase() + text.slice(1);
}

// ---------------------------------------------------------------------------------------------
// Listing titles and descriptions
// ---------------------------------------------------------------------------------------------

interface Texts {
  /** {pro} {field} {svc} {Svc} {svc2} {city} {name} {adj} */
  readonly titles: readonly string[];
  readonly adjectives: readonly string[];
  /** {Field} {field} */
  readonly intros: readonly string[];
  /** {s1} {s2} {s3} */
  readonly services: readonly string[];
  readonly trust: readonly string[];
  readonly availability: readonly string[];
  /** {years} {field} */
  readonly bio: string;
  readonly experienced: string;
}

export const TEXTS: Record<Language, Texts> = {
  en: {
    titles: [
      '{adj} {pro} in {city}',
      '{Svc} & {svc2}',
      '{Field} by {name}',
      '{Svc} in {city}',
      '{Field}: {svc}, {svc2} and more',
      "{name}'s {Field}",
    ],
    adjectives: [
      'Reliable',
      'Friendly',
      'Experienced',
      'Affordable',
      'Professional',
      'Trusted',
      'Local',
      'Certified',
      'Top-rated',
    ],
    intros: [
      '{Field} you can count on, from a local professional who shows up on time.',
      'I offer {field} for homes and small businesses, done properly the first time.',
      'Need a hand with {field}? I keep things simple: a clear quote, careful work and a tidy finish.',
      'Friendly, experienced and fully equipped for {field} jobs big and small.',
      'Over the years I have helped hundreds of neighbours with {field}.',
    ],
    services: ['Services include {s1}, {s2} and {s3}.', 'I specialise in {s1}, {s2} and {s3}.'],
    trust: [
      'Fully insured, with references available on request.',
      'All work is guaranteed, and I always leave the place as clean as I found it.',
      'Background-checked and rated highly by customers across the city.',
      'I bring my own tools and materials, so you do not have to worry about a thing.',
      'Transparent pricing: you get a quote before any work starts.',
    ],
    availability: [
      'Weekday appointments are usually available within a few days.',
      'Book online in a couple of minutes and I will confirm quickly.',
      'Evening and weekend slots are available on request.',
      'Send me a message with your questions before you book.',
    ],
    bio: '{years} years of experience in {field}.',
    experienced: 'Experienced',
  },
  es: {
    titles: [
      '{pro} {adj} en {city}',
      '{Svc} y {svc2}',
      '{Field} con {name}',
      '{Svc} en {city}',
      '{Field}: {svc}, {svc2} y más',
    ],
    adjectives: ['profesional', 'de confianza', 'con experiencia', 'a domicilio', 'certificado'],
    intros: [
      '{Field} de confianza, con un profesional local que llega puntual.',
      'Ofrezco servicios de {field} para hogares y pequeñas empresas, bien hechos a la primera.',
      '¿Necesitas ayuda con {field}? Presupuesto claro, trabajo cuidadoso y todo limpio al terminar.',
      'Profesional con experiencia y con todo el equipo necesario para trabajos de {field} grandes y pequeños.',
      'Llevo años ayudando a vecinos de la zona con {field}.',
    ],
    services: ['Servicios: {s1}, {s2} y {s3}.', 'Me especializo en {s1}, {s2} y {s3}.'],
    trust: [
      'Cuento con seguro de responsabilidad civil y referencias disponibles.',
      'Todos los trabajos tienen garantía y dejo todo tan limpio como estaba.',
      'Antecedentes verificados y muy bien valorado por mis clientes.',
      'Llevo mis propias herramientas y materiales.',
      'Precios transparentes: recibes un presupuesto antes de empezar.',
    ],
    availability: [
      'Normalmente hay citas disponibles entre semana en pocos días.',
      'Reserva en línea en un par de minutos y te confirmo enseguida.',
      'También atiendo por las tardes y los fines de semana bajo petición.',
      'Escríbeme si tienes cualquier duda antes de reservar.',
    ],
    bio: '{years} años de experiencia en {field}.',
    experienced: 'Con experiencia',
  },
  fr: {
    titles: [
      '{pro} {adj} à {city}',
      '{Svc} et {svc2}',
      '{Field} avec {name}',
      '{Svc} à {city}',
      '{Field} : {svc}, {svc2} et plus',
    ],
    adjectives: ['de confiance', 'expérimenté', 'certifié', 'disponible', 'à domicile'],
    intros: [
      "{Field} de confiance, par un professionnel du quartier toujours à l'heure.",
      'Je propose mes services de {field} aux particuliers et aux petites entreprises.',
      "Besoin d'aide pour {field} ? Devis clair, travail soigné et lieux laissés propres.",
      "Expérimenté et bien équipé, j'interviens pour toutes vos demandes de {field}.",
      "Depuis des années, j'aide les habitants du quartier pour {field}.",
    ],
    services: ['Prestations : {s1}, {s2} et {s3}.', 'Mes spécialités : {s1}, {s2} et {s3}.'],
    trust: [
      'Assuré, avec des références disponibles sur demande.',
      "Travail garanti, et je laisse toujours les lieux aussi propres qu'à mon arrivée.",
      'Casier vérifié et très bien noté par mes clients.',
      "J'apporte mes propres outils et fournitures.",
      'Tarifs transparents : vous recevez un devis avant toute intervention.',
    ],
    availability: [
      'Des créneaux en semaine sont généralement disponibles sous quelques jours.',
      'Réservez en ligne en deux minutes, je confirme rapidement.',
      'Créneaux en soirée et le week-end sur demande.',
      'Écrivez-moi pour toute question avant de réserver.',
    ],
    bio: "{years} ans d'expérience en {field}.",
    experienced: 'Expérimenté',
  },
  de: {
    titles: [
      '{pro} in {city} – {adj}',
      '{Svc} & {svc2}',
      '{Field} mit {name}',
      '{Svc} in {city}',
      '{Field}: {svc}, {svc2} und mehr',
    ],
    adjectives: ['zuverlässig & günstig', 'erfahren', 'schnell & sauber', 'zertifiziert', 'freundlich'],
    intros: [
      '{Field}, auf die Sie sich verlassen können – pünktlich und aus der Nachbarschaft.',
      'Ich biete {field} für Privathaushalte und kleine Unternehmen an.',
      'Sie brauchen Hilfe? Klares Angebot, sorgfältige Arbeit und ein sauberes Ergebnis bei {field}.',
      'Erfahren und gut ausgestattet für kleine und große Aufträge rund um {field}.',
      'Seit Jahren helfe ich Nachbarn in der Stadt bei {field}.',
    ],
    services: ['Leistungen: {s1}, {s2} und {s3}.', 'Meine Schwerpunkte: {s1}, {s2} und {s3}.'],
    trust: [
      'Voll versichert, Referenzen auf Anfrage.',
      'Auf alle Arbeiten gibt es Garantie, und ich hinterlasse alles so sauber, wie ich es vorgefunden habe.',
      'Geprüftes Führungszeugnis und sehr gute Bewertungen.',
      'Werkzeug und Material bringe ich selbst mit.',
      'Transparente Preise: Sie erhalten vorab ein Angebot.',
    ],
    availability: [
      'Termine unter der Woche sind meist innerhalb weniger Tage frei.',
      'In zwei Minuten online buchen, ich bestätige schnell.',
      'Abend- und Wochenendtermine auf Anfrage.',
      'Schreiben Sie mir gern vor der Buchung, wenn Sie Fragen haben.',
    ],
    bio: '{years} Jahre Erfahrung: {field}.',
    experienced: 'Erfahren',
  },
  pt: {
    titles: [
      '{pro} {adj} em {city}',
      '{Svc} e {svc2}',
      '{Field} com {name}',
      '{Svc} em {city}',
      '{Field}: {svc}, {svc2} e muito mais',
    ],
    adjectives: ['de confiança', 'experiente', 'profissional', 'certificado', 'a domicílio'],
    intros: [
      '{Field} de confiança, com um profissional da região que chega no horário.',
      'Ofereço serviços de {field} para casas e pequenas empresas, bem feitos de primeira.',
      'Precisa de ajuda com {field}? Orçamento claro, trabalho caprichado e tudo limpo no final.',
      'Profissional experiente e bem equipado para serviços de {field} grandes e pequenos.',
      'Há anos ajudo vizinhos da região com {field}.',
    ],
    services: ['Serviços: {s1}, {s2} e {s3}.', 'Sou especialista em {s1}, {s2} e {s3}.'],
    trust: [
      'Tenho seguro e referências disponíveis.',
      'Todo serviço tem garantia, e deixo tudo tão limpo quanto encontrei.',
      'Antecedentes verificados e muito bem avaliado pelos clientes.',
      'Levo minhas próprias ferramentas e materiais.',
      'Preços transparentes: você recebe o orçamento antes de começar.',
    ],
    availability: [
      'Normalmente há horários durante a semana em poucos dias.',
      'Reserve online em dois minutos e confirmo rapidinho.',
      'Atendo também à noite e aos fins de semana, sob consulta.',
      'Mande uma mensagem se tiver dúvidas antes de reservar.',
    ],
    bio: '{years} anos de experiência em {field}.',
    experienced: 'Experiente',
  },
};

/** Replaces {name} placeholders; unknown ones are left as they are. */
export function fill(template: string, values: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (whole, key: string) => values[key] ?? whole);
}

// ---------------------------------------------------------------------------------------------
// Reviews, messages, reasons
// ---------------------------------------------------------------------------------------------

interface ReviewTexts {
  /** By rating bucket: [1–2, 3, 4, 5]. */
  readonly titles: readonly [readonly string[], readonly string[], readonly string[], readonly string[]];
  readonly comments: readonly [readonly string[], readonly string[], readonly string[], readonly string[]];
  /** The provider reviewing the customer, by bucket [≤3, 4, 5]. */
  readonly customerComments: readonly [readonly string[], readonly string[], readonly string[]];
  /** The provider's public reply: [to a poor review, to a good one]. */
  readonly responses: readonly [readonly string[], readonly string[]];
}

export const REVIEWS: Record<Language, ReviewTexts> = {
  en: {
    titles: [
      ['Disappointed', 'Not as expected', 'Would not book again'],
      ['It was okay', 'Average experience'],
      ['Very good', 'Good job', 'Would book again'],
      ['Excellent work', 'Highly recommend', 'Fantastic service', 'Could not be happier', 'Five stars'],
    ],
    comments: [
      [
        'Arrived late and part of the work had to be redone.',
        'Did not finish what was agreed and was hard to reach afterwards.',
      ],
      ['The job got done, but it took longer than expected.', 'Decent work, though communication could be better.'],
      [
        'Good work overall. Arrived a little late but kept me informed.',
        'Solid job at a fair price.',
        'Friendly and competent; a couple of small things to fix, handled quickly.',
      ],
      [
        'Arrived on time, explained everything and did a great job. Will book again.',
        'Professional, friendly and fast. The price was exactly as quoted.',
        'Super careful and tidy. Exactly what I was looking for.',
        'Great communication from start to finish. Highly recommended!',
      ],
    ],
    customerComments: [
      ['Changed the scope on the day, but we sorted it out.'],
      ['Easy to work with; a small delay getting access.'],
      ['Clear instructions and easy to work with. Welcome back any time!', 'Friendly, on time and paid promptly.'],
    ],
    responses: [
      ['Sorry to hear that. I have reached out to make it right.', 'Thanks for the honest feedback; I will do better.'],
      ['Thank you so much for the kind words!', 'Thanks for the feedback, glad I could help.', 'It was a pleasure!'],
    ],
  },
  es: {
    titles: [
      ['Decepcionado', 'No como esperaba', 'No volvería a reservar'],
      ['Correcto', 'Experiencia normal'],
      ['Muy bien', 'Buen trabajo', 'Volvería a reservar'],
      ['Trabajo excelente', 'Muy recomendable', 'Servicio fantástico', 'Cinco estrellas'],
    ],
    comments: [
      ['Llegó tarde y hubo que rehacer parte del trabajo.', 'No terminó lo acordado y luego fue difícil contactar.'],
      [
        'El trabajo se hizo, pero tardó más de lo previsto.',
        'Trabajo correcto, aunque la comunicación podría mejorar.',
      ],
      [
        'Buen trabajo en general. Llegó un poco tarde pero avisó.',
        'Buen trabajo a un precio justo.',
        'Amable y competente; un par de detalles, resueltos enseguida.',
      ],
      [
        'Puntual, lo explicó todo y el resultado es excelente. Repetiré.',
        'Profesional, amable y rápido. El precio fue el del presupuesto.',
        'Muy cuidadoso y ordenado. Justo lo que buscaba.',
        'Comunicación excelente de principio a fin. ¡Muy recomendable!',
      ],
    ],
    customerComments: [
      ['Cambió el encargo el mismo día, pero lo solucionamos.'],
      ['Fácil de tratar; un pequeño retraso para acceder.'],
      ['Instrucciones claras y muy fácil de tratar. ¡Cuando quiera!', 'Amable, puntual y pagó enseguida.'],
    ],
    responses: [
      ['Siento lo ocurrido. Me he puesto en contacto para solucionarlo.', 'Gracias por la sinceridad; mejoraré.'],
      ['¡Muchas gracias por tus palabras!', 'Gracias, me alegro de haber ayudado.', '¡Ha sido un placer!'],
    ],
  },
  fr: {
    titles: [
      ['Déçu', 'Pas à la hauteur', 'Je ne recommande pas'],
      ['Correct', 'Expérience moyenne'],
      ['Très bien', 'Bon travail', 'Je referai appel à lui'],
      ['Travail excellent', 'Je recommande vivement', 'Service impeccable', 'Cinq étoiles'],
    ],
    comments: [
      ['Arrivé en retard et une partie du travail était à refaire.', "N'a pas terminé ce qui était prévu."],
      [
        'Le travail a été fait, mais plus lentement que prévu.',
        'Travail correct, la communication pourrait être meilleure.',
      ],
      [
        'Bon travail dans l’ensemble. Un peu de retard, mais il a prévenu.',
        'Travail solide à un prix juste.',
        'Sympathique et compétent ; quelques détails vite réglés.',
      ],
      [
        "À l'heure, très clair et un résultat parfait. Je referai appel à ses services.",
        'Professionnel, aimable et rapide. Le prix correspondait au devis.',
        'Très soigneux et ordonné. Exactement ce que je cherchais.',
        'Communication parfaite du début à la fin. Je recommande !',
      ],
    ],
    customerComments: [
      ['A changé la demande le jour même, mais nous avons trouvé une solution.'],
      ["Agréable ; un petit retard pour l'accès."],
      ['Consignes claires et très agréable. À bientôt !', 'Aimable, ponctuel et paiement rapide.'],
    ],
    responses: [
      ['Désolé pour ce désagrément, je vous ai contacté pour arranger cela.', 'Merci pour ce retour honnête.'],
      ['Merci beaucoup pour votre message !', 'Merci, ravi d’avoir pu vous aider.', 'Ce fut un plaisir !'],
    ],
  },
  de: {
    titles: [
      ['Enttäuscht', 'Nicht wie erwartet', 'Würde nicht wieder buchen'],
      ['In Ordnung', 'Durchschnittlich'],
      ['Sehr gut', 'Gute Arbeit', 'Gerne wieder'],
      ['Hervorragende Arbeit', 'Absolut empfehlenswert', 'Super Service', 'Fünf Sterne'],
    ],
    comments: [
      ['Kam zu spät, ein Teil der Arbeit musste nachgebessert werden.', 'Hat das Vereinbarte nicht fertiggestellt.'],
      [
        'Die Arbeit wurde erledigt, hat aber länger gedauert als gedacht.',
        'Ordentlich, die Kommunikation könnte besser sein.',
      ],
      [
        'Insgesamt gute Arbeit. Etwas später gekommen, aber Bescheid gegeben.',
        'Solide Arbeit zu einem fairen Preis.',
        'Freundlich und kompetent; Kleinigkeiten wurden schnell behoben.',
      ],
      [
        'Pünktlich, hat alles erklärt und super gearbeitet. Gerne wieder.',
        'Professionell, freundlich und schnell. Der Preis entsprach dem Angebot.',
        'Sehr sorgfältig und ordentlich. Genau das, was ich gesucht habe.',
        'Tolle Kommunikation von Anfang bis Ende. Sehr empfehlenswert!',
      ],
    ],
    customerComments: [
      ['Hat den Auftrag am Tag selbst geändert, wir haben uns aber geeinigt.'],
      ['Angenehm; kleine Verzögerung beim Zugang.'],
      ['Klare Absprachen, sehr angenehm. Jederzeit wieder!', 'Freundlich, pünktlich und schnelle Zahlung.'],
    ],
    responses: [
      ['Das tut mir leid. Ich habe mich gemeldet, um es wiedergutzumachen.', 'Danke für das ehrliche Feedback.'],
      ['Vielen Dank für die netten Worte!', 'Danke, freut mich, dass ich helfen konnte.', 'Sehr gerne!'],
    ],
  },
  pt: {
    titles: [
      ['Decepcionado', 'Não foi como esperado', 'Não contrataria de novo'],
      ['Ok', 'Experiência mediana'],
      ['Muito bom', 'Bom trabalho', 'Contrataria de novo'],
      ['Trabalho excelente', 'Super recomendo', 'Serviço fantástico', 'Cinco estrelas'],
    ],
    comments: [
      ['Chegou atrasado e parte do serviço teve de ser refeita.', 'Não terminou o combinado e depois sumiu.'],
      [
        'O serviço foi feito, mas demorou mais do que o esperado.',
        'Trabalho razoável, a comunicação poderia melhorar.',
      ],
      [
        'Bom trabalho no geral. Chegou um pouco atrasado, mas avisou.',
        'Serviço bem feito por um preço justo.',
        'Simpático e competente; pequenos detalhes resolvidos rápido.',
      ],
      [
        'Pontual, explicou tudo e fez um ótimo trabalho. Vou contratar de novo.',
        'Profissional, simpático e rápido. O preço foi o combinado.',
        'Muito cuidadoso e organizado. Exatamente o que eu procurava.',
        'Comunicação ótima do início ao fim. Super recomendo!',
      ],
    ],
    customerComments: [
      ['Mudou o pedido no dia, mas resolvemos.'],
      ['Tranquilo; um pequeno atraso para liberar a entrada.'],
      ['Instruções claras e muito tranquilo. Volte sempre!', 'Simpático, pontual e pagou na hora.'],
    ],
    responses: [
      ['Sinto muito. Entrei em contato para resolver.', 'Obrigado pela sinceridade, vou melhorar.'],
      ['Muito obrigado pelas palavras!', 'Obrigado, fico feliz em ajudar.', 'Foi um prazer!'],
    ],
  },
};

interface MessageTexts {
  /** {pname} {svc}: the customer opens. */
  readonly open: readonly string[];
  /** {cname}: the provider answers. */
  readonly reply: readonly string[];
  readonly follow: readonly string[];
  readonly confirm: readonly string[];
  readonly close: readonly string[];
}

export const MESSAGES: Record<Language, MessageTexts> = {
  en: {
    open: [
      'Hi {pname}! Are you available for {svc} next week?',
      'Hello, I would like to book {svc}. Do you bring your own equipment?',
      'Hi! Quick question before I book: how long does {svc} usually take?',
    ],
    reply: [
      'Hi {cname}, yes, I have time then.',
      'Hello {cname}! Yes, I bring everything I need.',
      'Hi {cname}, usually one to two hours, depending on the job.',
    ],
    follow: ['Great, I just sent the booking request.', 'Perfect, thanks! Is there anything I should prepare?'],
    confirm: ['Confirmed. See you then!', 'Nothing special, just make sure I can get in. See you soon.'],
    close: ['Thanks again!', 'See you!', 'Thank you 🙂'],
  },
  es: {
    open: [
      '¡Hola {pname}! ¿Tienes disponibilidad para {svc} la semana que viene?',
      'Hola, quería reservar {svc}. ¿Traes tu propio material?',
      '¡Hola! Una pregunta antes de reservar: ¿cuánto suele durar {svc}?',
    ],
    reply: [
      'Hola {cname}, sí, tengo hueco.',
      '¡Hola {cname}! Sí, llevo todo lo necesario.',
      'Hola {cname}, normalmente una o dos horas, según el trabajo.',
    ],
    follow: ['Genial, acabo de enviar la reserva.', '¡Perfecto, gracias! ¿Tengo que preparar algo?'],
    confirm: ['Confirmado. ¡Nos vemos!', 'Nada especial, solo que pueda entrar. ¡Hasta pronto!'],
    close: ['¡Gracias de nuevo!', '¡Hasta luego!'],
  },
  fr: {
    open: [
      'Bonjour {pname} ! Êtes-vous disponible pour {svc} la semaine prochaine ?',
      'Bonjour, je voudrais réserver : {svc}. Apportez-vous votre matériel ?',
      'Bonjour ! Une question avant de réserver : combien de temps dure {svc} en général ?',
    ],
    reply: [
      'Bonjour {cname}, oui, je suis disponible.',
      'Bonjour {cname} ! Oui, j’apporte tout le nécessaire.',
      'Bonjour {cname}, en général une à deux heures selon le travail.',
    ],
    follow: [
      'Super, je viens d’envoyer la demande de réservation.',
      'Parfait, merci ! Dois-je préparer quelque chose ?',
    ],
    confirm: ['C’est confirmé. À bientôt !', 'Rien de particulier, il faut juste que je puisse entrer. À bientôt.'],
    close: ['Merci encore !', 'À bientôt !'],
  },
  de: {
    open: [
      'Hallo {pname}! Hätten Sie nächste Woche Zeit für {svc}?',
      'Hallo, ich möchte gern buchen: {svc}. Bringen Sie Ihr eigenes Material mit?',
      'Hallo! Kurze Frage vor der Buchung: Wie lange dauert {svc} normalerweise?',
    ],
    reply: [
      'Hallo {cname}, ja, da habe ich Zeit.',
      'Hallo {cname}! Ja, ich bringe alles mit.',
      'Hallo {cname}, meist ein bis zwei Stunden, je nach Auftrag.',
    ],
    follow: ['Super, ich habe die Buchungsanfrage gerade geschickt.', 'Perfekt, danke! Muss ich etwas vorbereiten?'],
    confirm: ['Bestätigt. Bis dann!', 'Nichts Besonderes, ich muss nur hineinkommen. Bis bald.'],
    close: ['Nochmals danke!', 'Bis dann!'],
  },
  pt: {
    open: [
      'Oi {pname}! Você tem disponibilidade para {svc} na semana que vem?',
      'Olá, gostaria de agendar {svc}. Você leva o próprio material?',
      'Oi! Uma pergunta antes de reservar: quanto tempo costuma levar {svc}?',
    ],
    reply: [
      'Oi {cname}, sim, tenho horário.',
      'Olá {cname}! Sim, levo tudo o que preciso.',
      'Oi {cname}, normalmente de uma a duas horas, depende do serviço.',
    ],
    follow: ['Ótimo, acabei de enviar o pedido de reserva.', 'Perfeito, obrigado! Preciso preparar alguma coisa?'],
    confirm: ['Confirmado. Até lá!', 'Nada especial, só preciso conseguir entrar. Até breve.'],
    close: ['Obrigado de novo!', 'Até mais!'],
  },
};

export const CANCELLATION_REASONS = [
  'Schedule conflict',
  'Found another provider',
  'No longer needed',
  'Provider unavailable that day',
  'Booked by mistake',
  'Weather',
] as const;

export const DISPUTE_REASONS = [
  'Work not completed as described',
  'Provider arrived very late',
  'Charged more than quoted',
  'Damage reported after the visit',
] as const;

export const DECLINE_REASONS = [
  'Fully booked that day',
  'Outside my service area',
  'Not a job I take on',
  'Need to see the site first',
] as const;

export const NO_SHOW_REASONS = ['Nobody at the address', 'Customer did not answer the door or the phone'] as const;

/** Why expire_pending_bookings() moved a request (its loconomy.reason). */
export const EXPIRY_REASON = 'the provider did not answer in time';

export const REFUND_REASONS = ['Refund approved by support', 'Goodwill refund', 'Refund after cancellation'] as const;

export const OVERRIDE_REASONS = ['Public holiday', 'Vacation', 'Training course', 'Family event'] as const;
export const PARTIAL_BLOCK_REASONS = ['Doctor appointment', 'Vehicle service', 'School pick-up'] as const;
export const EXTRA_HOURS_REASONS = ['Extra Saturday hours', 'Catching up on requests'] as const;

// ---------------------------------------------------------------------------------------------
// People and places
// ---------------------------------------------------------------------------------------------

/** A comma-separated list (keeps long word lists compact under the formatter). */
function list(items: string): readonly string[] {
  return items.split(',');
}

export type NameGroup = 'us' | 'gb' | 'au' | 'es' | 'mx' | 'fr' | 'de' | 'pt' | 'br' | 'it' | 'nl' | 'sv' | 'in';

export const FIRST_NAMES: Record<NameGroup, readonly string[]> = {
  us: list(
    'James,Mary,John,Patricia,Robert,Jennifer,Michael,Linda,David,Elizabeth,William,Barbara,Richard,Susan,Joseph,Jessica,Thomas,Sarah,Chris,Karen,Daniel,Nancy,Matthew,Lisa,Anthony,Ashley,Kevin,Emily,Brian,Megan,Tyler,Rachel',
  ),
  gb: list(
    'Oliver,Amelia,George,Isla,Harry,Ava,Jack,Emily,Charlie,Sophie,Jacob,Grace,Alfie,Mia,Freddie,Poppy,Thomas,Lily,James,Ella,Callum,Freya,Rhys,Eilidh',
  ),
  au: list(
    'Jack,Charlotte,Noah,Olivia,William,Ruby,Liam,Chloe,Lachlan,Isla,Cooper,Matilda,Oscar,Zoe,Riley,Sienna,Mason,Harper,Hudson,Evie',
  ),
  es: list(
    'Sofía,Mateo,Lucía,Hugo,Martina,Javier,María,José,Carmen,Luis,Ana,Carlos,Elena,Miguel,Paula,Pablo,Alba,Sergio,Laura,Álvaro,Irene,Raúl',
  ),
  mx: list(
    'Santiago,Valentina,Diego,Camila,Alejandro,Ximena,Emiliano,Regina,Leonardo,Fernanda,Juan,Guadalupe,Luis,Daniela,Jorge,Andrea,Ricardo,Mariana,Eduardo,Paola',
  ),
  fr: list(
    'Léa,Lucas,Chloé,Hugo,Manon,Louis,Camille,Gabriel,Inès,Arthur,Jade,Jules,Louise,Raphaël,Emma,Nathan,Sarah,Thomas,Julie,Antoine,Élodie,Mathieu',
  ),
  de: list(
    'Lukas,Anna,Leon,Mia,Finn,Emma,Jonas,Hannah,Paul,Lea,Felix,Lena,Maximilian,Sophie,Elias,Marie,Jan,Laura,Tobias,Julia,Jürgen,Katrin',
  ),
  pt: list(
    'João,Maria,Pedro,Ana,Tiago,Beatriz,Diogo,Inês,Rodrigo,Carolina,Miguel,Leonor,Francisco,Marta,Duarte,Rita,Gonçalo,Sofia',
  ),
  br: list(
    'Lucas,Júlia,Gabriel,Mariana,Rafael,Larissa,Bruno,Fernanda,Matheus,Camila,Felipe,Amanda,Gustavo,Letícia,Thiago,Beatriz,Leonardo,Isabela,Vinícius,Luana',
  ),
  it: list(
    'Giulia,Francesco,Sofia,Alessandro,Aurora,Lorenzo,Ginevra,Mattia,Alice,Leonardo,Chiara,Andrea,Martina,Marco,Federica,Luca',
  ),
  nl: list('Daan,Emma,Sem,Julia,Lucas,Mila,Levi,Tess,Finn,Sophie,Milan,Zoë,Bram,Anna,Thijs,Fleur'),
  sv: list('William,Alice,Liam,Maja,Noah,Elsa,Hugo,Astrid,Lucas,Wilma,Oscar,Freja,Elias,Ebba,Axel,Saga'),
  in: list(
    'Aarav,Ananya,Vihaan,Diya,Arjun,Priya,Aditya,Isha,Rohan,Kavya,Rahul,Sneha,Vikram,Pooja,Karan,Neha,Sanjay,Anjali,Amit,Riya',
  ),
};

export const LAST_NAMES: Record<NameGroup, readonly string[]> = {
  us: list(
    'Smith,Johnson,Williams,Brown,Jones,Garcia,Miller,Davis,Rodriguez,Martinez,Hernandez,Lopez,Wilson,Anderson,Thomas,Taylor,Moore,Jackson,Martin,Lee,Thompson,White,Harris,Clark,Lewis,Walker,Young,Allen,King,Wright,Nguyen,Kim',
  ),
  gb: list(
    'Smith,Jones,Williams,Taylor,Davies,Evans,Thomas,Roberts,Johnson,Walker,Wright,Robinson,Thompson,Hughes,Edwards,Green,Hall,Wood,Harris,Clarke,Campbell,Stewart',
  ),
  au: list(
    "Smith,Jones,Williams,Brown,Wilson,Taylor,Nguyen,Johnson,Martin,White,Anderson,Kelly,O'Brien,Ryan,Murphy,Thompson,Walker,Harris",
  ),
  es: list(
    'García,Fernández,González,Rodríguez,López,Martínez,Sánchez,Pérez,Gómez,Martín,Jiménez,Ruiz,Hernández,Díaz,Moreno,Álvarez,Romero,Navarro,Torres,Ramos',
  ),
  mx: list(
    'Hernández,García,Martínez,López,González,Pérez,Rodríguez,Sánchez,Ramírez,Cruz,Flores,Gómez,Morales,Vázquez,Reyes,Jiménez,Torres,Díaz,Gutiérrez,Ruiz',
  ),
  fr: list(
    'Martin,Bernard,Dubois,Thomas,Robert,Richard,Petit,Durand,Leroy,Moreau,Simon,Laurent,Lefebvre,Michel,Garcia,David,Bertrand,Roux,Vincent,Fournier,Tremblay,Gagnon',
  ),
  de: list(
    'Müller,Schmidt,Schneider,Fischer,Weber,Meyer,Wagner,Becker,Schulz,Hoffmann,Schäfer,Koch,Bauer,Richter,Klein,Wolf,Schröder,Neumann,Schwarz,Zimmermann',
  ),
  pt: list(
    'Silva,Santos,Ferreira,Pereira,Oliveira,Costa,Rodrigues,Martins,Jesus,Sousa,Fernandes,Gonçalves,Gomes,Lopes,Marques,Alves,Almeida,Ribeiro',
  ),
  br: list(
    'Silva,Santos,Oliveira,Souza,Rodrigues,Ferreira,Alves,Pereira,Lima,Gomes,Costa,Ribeiro,Martins,Carvalho,Almeida,Lopes,Araújo,Barbosa,Rocha,Dias',
  ),
  it: list(
    'Rossi,Russo,Ferrari,Esposito,Bianchi,Romano,Colombo,Ricci,Marino,Greco,Bruno,Gallo,Conti,De Luca,Costa,Giordano',
  ),
  nl: list(
    'de Jong,Jansen,de Vries,van den Berg,van Dijk,Bakker,Janssen,Visser,Smit,Meijer,de Boer,Mulder,de Groot,Bos,Vos,Peters',
  ),
  sv: list(
    'Andersson,Johansson,Karlsson,Nilsson,Eriksson,Larsson,Olsson,Persson,Svensson,Gustafsson,Pettersson,Jonsson,Lindberg,Lindqvist,Berg,Holm',
  ),
  in: list(
    'Sharma,Patel,Singh,Kumar,Gupta,Reddy,Iyer,Nair,Mehta,Joshi,Rao,Verma,Das,Shah,Khan,Agarwal,Menon,Pillai,Bose,Kapoor',
  ),
};

export const STREETS: Record<NameGroup, readonly string[]> = {
  us: list('Main St,Oak Ave,Maple St,Cedar Ln,Park Ave,Elm St,Washington Blvd,Lake Dr,Pine St'),
  gb: list('High Street,Station Road,Church Lane,Victoria Road,Green Lane,Park Road,Mill Lane'),
  au: list('George Street,King Street,Beach Road,Victoria Street,Smith Street,Church Street'),
  es: list('Calle Mayor,Calle de Alcalá,Calle del Sol,Calle de Toledo,Avenida de América,Calle Serrano'),
  mx: list('Avenida Reforma,Calle Juárez,Calle Hidalgo,Avenida Insurgentes,Calle Morelos,Calle Madero'),
  fr: list('rue de la Paix,avenue Victor Hugo,rue de Rivoli,boulevard Voltaire,rue des Lilas,rue Oberkampf'),
  de: list('Hauptstraße,Bahnhofstraße,Gartenstraße,Schillerstraße,Goethestraße,Lindenstraße'),
  pt: list('Rua Augusta,Avenida da Liberdade,Rua do Carmo,Rua das Flores,Rua da Prata'),
  br: list('Rua Augusta,Avenida Paulista,Rua Oscar Freire,Rua da Consolação,Avenida Atlântica'),
  it: list('Via Roma,Via Garibaldi,Via Mazzini,Via Nazionale,Via del Corso'),
  nl: list('Kerkstraat,Prinsengracht,Dorpsstraat,Molenweg,Stationsweg'),
  sv: list('Storgatan,Drottninggatan,Kungsgatan,Skolgatan,Sveavägen'),
  in: list('MG Road,Linking Road,Park Street,Brigade Road,Nehru Marg,Hill Road'),
};

/** How each seeded city writes: its people's names, and the languages its listings use. */
export interface Locale {
  readonly names: readonly (readonly [NameGroup, number])[];
  readonly languages: readonly (readonly [Language, number])[];
  /** The secondary name group writes in this language (e.g. Spanish speakers in Miami). */
  readonly languageOf?: Partial<Record<NameGroup, Language>>;
}

const US = {
  names: [
    ['us', 85],
    ['mx', 15],
  ],
  languages: [['en', 1]],
  languageOf: { mx: 'es' },
} as const;
const US_HISPANIC = {
  names: [
    ['us', 60],
    ['mx', 40],
  ],
  languages: [['en', 1]],
  languageOf: { mx: 'es' },
} as const;

export const CITY_LOCALES: Record<string, Locale> = {
  'new-york': US,
  'los-angeles': US_HISPANIC,
  chicago: US,
  houston: US_HISPANIC,
  phoenix: US,
  'san-francisco': US,
  seattle: US,
  denver: US,
  austin: US,
  boston: US,
  miami: US_HISPANIC,
  toronto: {
    names: [
      ['us', 75],
      ['fr', 10],
      ['in', 15],
    ],
    languages: [['en', 1]],
  },
  montreal: {
    names: [
      ['fr', 70],
      ['us', 30],
    ],
    languages: [['fr', 1]],
    languageOf: { us: 'en' },
  },
  vancouver: {
    names: [
      ['us', 80],
      ['in', 20],
    ],
    languages: [['en', 1]],
  },
  london: {
    names: [
      ['gb', 85],
      ['in', 15],
    ],
    languages: [['en', 1]],
  },
  manchester: { names: [['gb', 1]], languages: [['en', 1]] },
  edinburgh: { names: [['gb', 1]], languages: [['en', 1]] },
  berlin: {
    names: [['de', 1]],
    languages: [
      ['de', 75],
      ['en', 25],
    ],
  },
  paris: {
    names: [['fr', 1]],
    languages: [
      ['fr', 85],
      ['en', 15],
    ],
  },
  madrid: {
    names: [['es', 1]],
    languages: [
      ['es', 85],
      ['en', 15],
    ],
  },
  amsterdam: { names: [['nl', 1]], languages: [['en', 1]] },
  rome: { names: [['it', 1]], languages: [['en', 1]] },
  lisbon: {
    names: [['pt', 1]],
    languages: [
      ['pt', 80],
      ['en', 20],
    ],
  },
  stockholm: { names: [['sv', 1]], languages: [['en', 1]] },
  sydney: { names: [['au', 1]], languages: [['en', 1]] },
  melbourne: { names: [['au', 1]], languages: [['en', 1]] },
  brisbane: { names: [['au', 1]], languages: [['en', 1]] },
  mumbai: { names: [['in', 1]], languages: [['en', 1]] },
  delhi: { names: [['in', 1]], languages: [['en', 1]] },
  bengaluru: { names: [['in', 1]], languages: [['en', 1]] },
  'sao-paulo': {
    names: [['br', 1]],
    languages: [
      ['pt', 90],
      ['en', 10],
    ],
  },
  'rio-de-janeiro': {
    names: [['br', 1]],
    languages: [
      ['pt', 90],
      ['en', 10],
    ],
  },
  'mexico-city': {
    names: [['mx', 1]],
    languages: [
      ['es', 90],
      ['en', 10],
    ],
  },
  guadalajara: {
    names: [['mx', 1]],
    languages: [
      ['es', 95],
      ['en', 5],
    ],
  },
};

export const DEFAULT_LOCALE: Locale = { names: [['us', 1]], languages: [['en', 1]] };

/** Rough price level against US dollars, so a London plumber and a Mumbai one both look plausible. */
export const PRICE_LEVEL: Record<string, number> = {
  USD: 1,
  CAD: 1.35,
  GBP: 0.8,
  EUR: 0.92,
  AUD: 1.5,
  INR: 30,
  BRL: 3,
  MXN: 10,
};

/** Calling code and the digits after it, for demo phone numbers. */
export const PHONE_PREFIX: Record<string, string> = {
  US: '+1',
  CA: '+1',
  GB: '+44',
  DE: '+49',
  FR: '+33',
  ES: '+34',
  NL: '+31',
  IT: '+39',
  PT: '+351',
  SE: '+46',
  AU: '+61',
  IN: '+91',
  BR: '+55',
  MX: '+52',
};
